/** Public API of src/train (filled in as the concern lands). @module */
export {};
