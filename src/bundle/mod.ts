/** Public API of src/bundle (filled in as the concern lands). @module */
export {};
