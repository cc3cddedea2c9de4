/** Public API of src/prefix (filled in as the concern lands). @module */
export {};
