/** Public API of src/gpu (filled in as the concern lands). @module */
export {};
