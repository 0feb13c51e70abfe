/**
 * The gateway/executor protocol, defined once and used by both sides.
 *
 * One request per process: the gateway writes one JSON request to the
 * child's stdin and closes it; the child writes one JSON response to stdout
 * and exits. This folder holds the messages ({@link ./messages.ts}), both
 * halves of the wire format ({@link ./wire.ts}), the sealing of a request
 * with its secret and the scrubbing of the answer, and the output cap both
 * sides apply. It imports nothing but zod: the spawner and the children meet
 * here and nowhere else.
 *
 * @module
 */
export * from "./messages.ts";
export * from "./wire.ts";
export * from "./seal_request.ts";
export * from "./scrub.ts";
export * from "./output_cap.ts";
