/**
 * The MCP requests a gateway is answering now, counted from the moment a
 * request comes in until its response body has been sent to the end (or
 * the client went away): a tool call that reports progress answers with an
 * event stream, and it is in flight until that stream closes. The drain on
 * SIGTERM waits for this count to reach zero.
 *
 * @module
 */

/** A count of requests in flight, and of those that have finished. */
export class InFlightRequests {
  #count = 0;
  #finished = 0;
  #idle: (() => void)[] = [];

  /** Requests in flight now. */
  get count(): number {
    return this.#count;
  }

  /** Requests that have finished since the process started. */
  get finished(): number {
    return this.#finished;
  }

  /**
   * Counts one request in; call the returned function when it has ended.
   * Calling it again does nothing.
   */
  begin(): () => void {
    this.#count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#count--;
      this.#finished++;
      if (this.#count === 0) {
        const waiting = this.#idle;
        this.#idle = [];
        for (const resolve of waiting) resolve();
      }
    };
  }

  /** Resolves once no request is in flight (at once when none is). */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#idle.push(resolve);
    return promise;
  }

  /**
   * `response` with a body that calls `end` once it has been read to the
   * end, failed or been cancelled (the client went away); a response
   * without a body ends at once.
   */
  static endingWith(response: Response, end: () => void): Response {
    const body = response.body;
    if (body === null) {
      end();
      return response;
    }
    const reader = body.getReader();
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller): Promise<void> {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            end();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          controller.error(error);
          end();
        }
      },
      async cancel(reason): Promise<void> {
        try {
          await reader.cancel(reason);
        } catch {
          // The source is gone already.
        } finally {
          end();
        }
      },
    });
    return new Response(stream, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }
}
