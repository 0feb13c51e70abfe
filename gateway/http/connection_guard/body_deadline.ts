/**
 * `HTTP_BODY_TIMEOUT_SECONDS`: a request's body must have arrived within
 * that time of the request reaching the handler. {@linkcode withBodyDeadline}
 * hands the application a copy of the request whose body fails with
 * {@linkcode BodyTimeoutError} once the time is up, however the body is
 * read (the MCP body reader answers 408 then; the guarded server answers
 * 408 for any other route and closes the connection).
 *
 * The copy is built from the request's parts, never from the request
 * itself: `new Request(request, ...)` reads the server request's `signal`,
 * which makes Deno print a plain-text warning once the response is sent.
 *
 * @module
 */
import { mayCarryBody, rebuildRequest } from "../rebuild_request.ts";

/** The body of a request did not arrive within `HTTP_BODY_TIMEOUT_SECONDS`. */
export class BodyTimeoutError extends Error {
  /** `HTTP_BODY_TIMEOUT_SECONDS`. */
  readonly seconds: number;

  /** Names the timeout in the message. */
  constructor(seconds: number) {
    super(
      `The request body did not arrive within ${seconds} s; send it at once after the headers (HTTP_BODY_TIMEOUT_SECONDS)`,
    );
    this.name = "BodyTimeoutError";
    this.seconds = seconds;
  }
}

/** A request whose body has a deadline, and what became of it. */
export interface DeadlinedRequest {
  /** The request to hand to the application. */
  readonly request: Request;
  /** The answer instead, for a request no copy can be made of (`rebuild_request.ts`). */
  readonly refusal?: Response;
  /** Whether the deadline passed before the body had been read to its end. */
  readonly expired: boolean;
  /** Stops the clock (the handler has answered). */
  release(): void;
}

/**
 * `request` with a body that fails with {@linkcode BodyTimeoutError} when it
 * has not been read to its end within `seconds`. A request without a body
 * is passed through as it is.
 */
export function withBodyDeadline(
  request: Request,
  seconds: number,
): DeadlinedRequest {
  const source = request.body;
  if (source === null || !mayCarryBody(request)) {
    return { request, expired: false, release: () => {} };
  }
  const reader = source.getReader();
  let expired = false;
  let finished = false;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  const finish = (): void => {
    finished = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    if (finished) return;
    expired = true;
    finish();
    controllerRef?.error(new BodyTimeoutError(seconds));
    reader.cancel().catch(() => {});
  }, seconds * 1000);
  const body = new ReadableStream<Uint8Array>({
    start(controller): void {
      controllerRef = controller;
    },
    async pull(controller): Promise<void> {
      try {
        const { done, value } = await reader.read();
        if (expired) return;
        if (done) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        if (expired) return;
        finish();
        controller.error(error);
      }
    },
    cancel(reason): Promise<void> {
      finish();
      return reader.cancel(reason).catch(() => {});
    },
  });
  const copy = rebuildRequest(request, body);
  if (copy instanceof Response) {
    finish();
    reader.cancel().catch(() => {});
    return { request, refusal: copy, expired: false, release: () => {} };
  }
  return {
    request: copy,
    get expired(): boolean {
      return expired;
    },
    release: finish,
  };
}
