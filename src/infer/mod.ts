/** Public API of src/infer (filled in as the concern lands). @module */
export {};
