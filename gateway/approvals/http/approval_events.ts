/**
 * `GET api/events`: the console's live feed, as server-sent events. Each new
 * request and each decision (on any replica, through `broker.subscribe`) is
 * one `request` event with the request as JSON. A comment line every
 * 15 seconds keeps proxies from closing an idle stream; `X-Accel-Buffering:
 * no` tells nginx not to buffer it. A session's stream ends with a
 * `session-ended` event when the session does.
 *
 * @module
 */
import type { Handler } from "hono";
import { streamSSE } from "hono/streaming";
import type { ApprovalBroker, ApprovalRequest } from "../approval.ts";
import type { ApprovalsEnv } from "./approvals_env.ts";

/** Milliseconds between keep-alive comments. */
export const KEEP_ALIVE_MS = 15_000;

/** Options of {@linkcode approvalEvents}. */
export interface ApprovalEventsOptions {
  broker: ApprovalBroker;
  /** Keep-alive interval (tests); default {@linkcode KEEP_ALIVE_MS}. */
  keepAliveMs?: number;
}

/** The SSE handler. */
export function approvalEvents(
  options: ApprovalEventsOptions,
): Handler<ApprovalsEnv> {
  const { broker } = options;
  const keepAliveMs = options.keepAliveMs ?? KEEP_ALIVE_MS;
  return (c): Response | Promise<Response> => {
    c.header("X-Accel-Buffering", "no");
    c.header("Cache-Control", "no-store");
    const sessionEndsAt: number | undefined = c.get("sessionExpiresAt");
    return streamSSE(c, async (stream) => {
      const queue: ApprovalRequest[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const finish = (): void => {
        done = true;
        wake?.();
      };
      const unsubscribe = broker.subscribe((request) => {
        queue.push(request);
        wake?.();
      });
      stream.onAbort(finish);
      const keepAlive = setInterval(() => {
        stream.write(": keep-alive\n\n").catch(finish);
      }, keepAliveMs);
      const sessionTimer = sessionEndsAt === undefined
        ? undefined
        : setTimeout(() => {
          queue.length = 0;
          stream.writeSSE({ event: "session-ended", data: "{}" }).catch(
            () => {},
          ).finally(finish);
        }, Math.max(0, sessionEndsAt - Date.now()));
      try {
        await stream.write("retry: 2000\n\n");
        while (!done) {
          const next = queue.shift();
          if (next === undefined) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          await stream.writeSSE({
            event: "request",
            id: next.id,
            data: JSON.stringify(next),
          });
        }
      } finally {
        unsubscribe();
        clearInterval(keepAlive);
        clearTimeout(sessionTimer);
      }
    }, async (error, stream) => {
      // A client that went away mid-write: nothing to tell anyone.
      void error;
      await stream.close();
    });
  };
}
