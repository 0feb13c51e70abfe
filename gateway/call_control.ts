/**
 * What one tool call gets from its MCP request besides its arguments: the
 * signal that fires when the client goes away, and MCP progress
 * notifications when the client asked for them (a `progressToken`), so a
 * call that waits (for an approver) keeps a client that resets its timeout
 * on progress waiting.
 *
 * @module
 */
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type {
  ServerNotification,
  ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";

/** The request-level controls of one tool call. */
export interface CallControl {
  /** Aborted when the client cancels the call or its connection closes. */
  readonly signal?: AbortSignal;
  /**
   * Sends a progress notification if the client sent a progress token;
   * otherwise does nothing. Never throws.
   */
  progress(progress: number, total: number, message: string): Promise<void>;
}

/** A call without a client to report to (tests, internal calls). */
export const NO_CONTROL: CallControl = {
  progress: () => Promise.resolve(),
};

/** The second argument the SDK passes to a tool handler. */
export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The controls of a tool call, from the SDK's handler `extra`. */
export function callControl(extra: ToolExtra): CallControl {
  const token = extra._meta?.progressToken;
  return {
    signal: extra.signal,
    progress: async (progress, total, message) => {
      if (token === undefined || extra.signal.aborted) return;
      try {
        await extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken: token, progress, total, message },
        });
      } catch {
        // The client went away; the signal says so.
      }
    },
  };
}
