/**
 * Task names on the server: the bundle's one rule ({@link validateTaskName}), plus the reserved
 * name for the bare base model.
 *
 * @module
 */
export { TASK_NAME_PATTERN, validateTaskName } from "../bundle/mod.ts";

/** The reserved name that means "no prefix": the bare base model. */
export const BASE_TASK = "base";
