/** Public API of src/serve (filled in as the concern lands). @module */
export {};
