/**
 * What every executor child shares, and nothing else: the one-request entry
 * point, the response builders, the sandbox-denial test and the deadline.
 * Imports only the protocol, like the children themselves.
 *
 * @module
 */
import {
  type ExecutorErrorCode,
  type ExecutorFailure,
  type ExecutorRequest,
  ExecutorRequestSchema,
  type ExecutorResponse,
  type Limits,
  type Operation,
  type OperationResult,
  PROTOCOL_VERSION,
  readRequest,
  writeResponse,
} from "../protocol/mod.ts";

/** A success response carrying `result`. */
export function success(result: OperationResult): ExecutorResponse {
  return { protocol: PROTOCOL_VERSION, ok: true, result };
}

/** A failure response with this code and message. */
export function failure(
  code: ExecutorErrorCode,
  message: string,
  extra: Omit<ExecutorFailure, "code" | "message"> = {},
): ExecutorResponse {
  return failed({ code, message, ...extra });
}

/** A failure response from a failure already built. */
export function failed(error: ExecutorFailure): ExecutorResponse {
  return { protocol: PROTOCOL_VERSION, ok: false, error };
}

/** An error as drivers throw them: a Node-style `code` and maybe an errno. */
export interface DriverError extends Error {
  code?: string | number;
  errno?: number;
}

/**
 * Whether an error is the sandbox refusing something: Deno's `NotCapable`,
 * or the Node-compat codes a driver sees for it.
 */
export function isSandboxDenial(error: unknown): boolean {
  if (error instanceof Deno.errors.NotCapable) return true;
  const code = (error as DriverError | null)?.code;
  return code === "EPERM" || code === "ERR_ACCESS_DENIED";
}

/** The failure of a connection the sandbox refused: a bug in the parent's grant. */
export function sandboxDenied(where: string): ExecutorFailure {
  return {
    code: "internal",
    message:
      `Cannot connect to ${where}: the executor sandbox denied the connection; the gateway must pass --allow-net for exactly this host and port`,
  };
}

/**
 * The child's deadline, set from the request's limits when the request was
 * read: by `at` the child must have written its response; the parent kills it
 * at `killAt`, `limits.killGraceMs` later.
 */
export class Deadline {
  /** `performance.now()` by which the response must be written. */
  readonly at: number;
  /** `performance.now()` at which the parent kills the child. */
  readonly killAt: number;
  /** The whole time limit, for messages (ms). */
  readonly timeoutMs: number;

  /** Starts the clock now, from the request's limits. */
  constructor(limits: Pick<Limits, "timeoutMs" | "killGraceMs">) {
    const now = performance.now();
    this.timeoutMs = limits.timeoutMs;
    this.at = now + limits.timeoutMs;
    this.killAt = this.at + limits.killGraceMs;
  }

  /** Milliseconds left before {@linkcode Deadline.at}, at least 1. */
  remainingMs(): number {
    return Math.max(1, Math.floor(this.at - performance.now()));
  }

  /**
   * A server-side timeout that fires a little before the deadline, so the
   * server's own message arrives first.
   */
  serverTimeoutMs(): number {
    const left = this.remainingMs();
    return Math.max(1, left - Math.min(1000, Math.ceil(left / 10)));
  }

  /** Calls `expired` at the deadline; the returned function cancels it. */
  whenExpired(expired: () => void): () => void {
    const timer = setTimeout(expired, this.remainingMs());
    return () => clearTimeout(timer);
  }

  /** The work's result, or `expired()`'s when the deadline comes first. */
  async race<T>(work: Promise<T>, expired: () => T): Promise<T> {
    let cancel = (): void => {};
    const timeout = new Promise<T>((resolve) => {
      cancel = this.whenExpired(() => resolve(expired()));
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      cancel();
    }
  }
}

/** Replaces the credential's secrets in a failure message (the parent scrubs again). */
function redactFailure(
  response: ExecutorResponse,
  secrets: readonly (string | undefined)[],
): ExecutorResponse {
  if (response.ok) return response;
  let message = response.error.message;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) {
      message = message.replaceAll(secret, "[REDACTED]");
    }
  }
  return { ...response, error: { ...response.error, message } };
}

/**
 * Parses a request that holds no secret (and fails: its operation has only a
 * kind), so that zod builds the request schema's parser before stdin is
 * read. A warm child does this while it waits for its call, which then
 * parses in about 1 ms instead of 4; a cold child pays the same either way.
 */
function compileRequestParser(kind: Operation["kind"]): void {
  ExecutorRequestSchema.safeParse({
    protocol: PROTOCOL_VERSION,
    target: { host: "localhost", port: 1 },
    credential: { username: "", secret: "", kind: "password" },
    operation: { kind },
    limits: { timeoutMs: 1, maxOutputBytes: 1, killGraceMs: 0 },
  });
}

/**
 * The child side of one call, shared by every executor: reads the request,
 * checks that this executor serves its operation kind, runs it, writes
 * exactly one response (secrets removed from any failure message) and exits.
 * Exits 0 once the response is written, even if a driver still holds a
 * socket or timer; 1 only when the response cannot be written.
 */
export async function serveOneRequest<K extends Operation["kind"]>(
  kind: K,
  executorName: string,
  run: (
    request: ExecutorRequest,
    operation: Extract<Operation, { kind: K }>,
  ) => Promise<ExecutorResponse>,
): Promise<never> {
  let response: ExecutorResponse;
  let secrets: (string | undefined)[] | undefined;
  compileRequestParser(kind);
  try {
    const request = await readRequest();
    secrets = [request.credential.secret, request.credential.passphrase];
    const operation = request.operation;
    response = operation.kind === kind
      ? await run(request, operation as Extract<Operation, { kind: K }>)
      : failure(
        "bad_request",
        `The ${executorName} executor cannot run a "${operation.kind}" operation; the gateway routed it to the wrong executor`,
      );
  } catch (error) {
    // A JSON syntax error quotes the input, which holds the secret: never
    // pass its message on. After the request was read, an error is a bug
    // and only its class is reported.
    response = error instanceof SyntaxError
      ? failure(
        "bad_request",
        "Cannot read the executor request: stdin is not valid JSON; the gateway must write one JSON request",
      )
      : error instanceof TypeError && secrets === undefined
      ? failure(
        "bad_request",
        `Cannot read the executor request: ${error.message}`,
      )
      : failure(
        "internal",
        `The ${executorName} executor failed unexpectedly: ${
          error instanceof Error ? error.name : "non-error thrown"
        }`,
      );
  }
  try {
    await writeResponse(redactFailure(response, secrets ?? []));
  } catch {
    Deno.exit(1);
  }
  Deno.exit(0);
}
