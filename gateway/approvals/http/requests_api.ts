/**
 * The JSON API of approval requests, behind `approverAuth()`: list, get,
 * approve and deny. Errors are `{error, message}`: 400 bad input, 403
 * self-approval, 404 unknown id, 409 no longer pending.
 *
 * @module
 */
import type { Context, Handler } from "hono";
import {
  type ApprovalBroker,
  ApprovalError,
  type ApprovalErrorReason,
  type ApprovalState,
  type ApprovalVerdict,
} from "../approval.ts";
import { MAX_APPROVAL_COMMENT_CHARS } from "../broker.ts";
import type { ApprovalsEnv } from "./approvals_env.ts";
import { isApprovalId } from "./approval_id.ts";

/** The states `?state=` accepts. */
export const APPROVAL_STATES: readonly ApprovalState[] = [
  "pending",
  "approved",
  "denied",
  "expired",
];
/** Requests listed when `?limit=` is absent. */
export const DEFAULT_LIST_LIMIT = 100;
/** The largest `?limit=`. */
export const MAX_LIST_LIMIT = 500;

const STATUS_OF: Record<ApprovalErrorReason, 400 | 403 | 404 | 409> = {
  invalid: 400,
  self_approval: 403,
  not_found: 404,
  not_pending: 409,
};

/** `GET api/requests?state=&limit=`: `{requests, now}`, newest first. */
export function listRequests(broker: ApprovalBroker): Handler<ApprovalsEnv> {
  return async (c): Promise<Response> => {
    const state = c.req.query("state");
    if (
      state !== undefined && !APPROVAL_STATES.includes(state as ApprovalState)
    ) {
      return badRequest(
        c,
        `Unknown state "${printable(state)}"; use one of ${
          APPROVAL_STATES.join(", ")
        }`,
      );
    }
    const limitText = c.req.query("limit");
    let limit = DEFAULT_LIST_LIMIT;
    if (limitText !== undefined) {
      limit = /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : 0;
      if (limit < 1 || limit > MAX_LIST_LIMIT) {
        return badRequest(
          c,
          `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`,
        );
      }
    }
    const requests = await broker.list({
      limit,
      ...(state === undefined ? {} : { state: state as ApprovalState }),
    });
    return c.json({ requests, now: Date.now() });
  };
}

/** `GET api/requests/:id`: `{request, now}`. */
export function getRequest(broker: ApprovalBroker): Handler<ApprovalsEnv> {
  return async (c): Promise<Response> => {
    const id = c.req.param("id") ?? "";
    if (!isApprovalId(id)) return badId(c);
    const request = await broker.get(id);
    if (request === undefined) return notFound(c, id);
    return c.json({ request, now: Date.now() });
  };
}

/** `POST api/requests/:id/approve` or `/deny` with `{"comment": "..."}`: `{request}`. */
export function decideRequest(
  broker: ApprovalBroker,
  verdict: ApprovalVerdict,
): Handler<ApprovalsEnv> {
  return async (c): Promise<Response> => {
    const id = c.req.param("id") ?? "";
    if (!isApprovalId(id)) return badId(c);
    const comment = await readComment(c);
    if (typeof comment !== "string") return comment;
    try {
      const request = await broker.decide(
        id,
        c.get("approver"),
        verdict,
        comment,
      );
      return c.json({ request });
    } catch (error) {
      if (!(error instanceof ApprovalError)) throw error;
      return c.json(
        { error: error.reason, message: error.message },
        STATUS_OF[error.reason],
      );
    }
  };
}

/** The body's comment, or the 400 response that refuses the body. */
async function readComment(
  c: Context<ApprovalsEnv>,
): Promise<string | Response> {
  const text = await c.req.text();
  if (text.trim() === "") return "";
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return badRequest(
      c,
      'Send the body as Content-Type: application/json, {"comment": "..."}',
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return badRequest(c, 'The body is not JSON; send {"comment": "..."}');
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return badRequest(c, 'The body must be a JSON object: {"comment": "..."}');
  }
  const extra = Object.keys(body).filter((k) => k !== "comment");
  if (extra.length > 0) {
    return badRequest(
      c,
      `Unknown field "${
        printable(extra[0]!)
      }"; the body holds only {"comment": "..."}`,
    );
  }
  const comment: unknown = "comment" in body ? body.comment : "";
  if (typeof comment !== "string") {
    return badRequest(c, "comment must be a string");
  }
  if (comment.length > MAX_APPROVAL_COMMENT_CHARS) {
    return badRequest(
      c,
      `comment is longer than ${MAX_APPROVAL_COMMENT_CHARS} characters; shorten it`,
    );
  }
  return comment;
}

function badRequest(c: Context<ApprovalsEnv>, message: string): Response {
  return c.json({ error: "invalid", message }, 400);
}

function badId(c: Context<ApprovalsEnv>): Response {
  return c.json({
    error: "invalid_id",
    message:
      "Malformed request id; use the 22-character id shown by the console or by GET /approvals/api/requests",
  }, 400);
}

function notFound(c: Context<ApprovalsEnv>, id: string): Response {
  return c.json({
    error: "not_found",
    message:
      `No approval request ${id}; it may have been removed after its decision. List the current ones with GET /approvals/api/requests`,
  }, 404);
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 40);
}
