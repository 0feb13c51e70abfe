/**
 * The parent side of the executor boundary: everything the gateway uses to
 * start a sandboxed child and read its answer. Runs in the gateway only;
 * never imported by a child.
 *
 * @module
 */
export * from "./spawner.ts";
export * from "./target.ts";
export * from "./executor_args.ts";
