/** Public API of src/eval (filled in as the concern lands). @module */
export {};
