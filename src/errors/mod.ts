/** Typed errors shared by every concern. @module */
export { type ErrorCode, PrefixEdgeError } from "./prefix_edge_error.ts";
