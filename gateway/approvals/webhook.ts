/**
 * `APPROVAL_WEBHOOK_URL`: a JSON POST for each new request and each
 * decision or expiry, with a one-line `text` that Slack and Teams incoming
 * webhooks show:
 *
 * ```json
 * { "text": "alice asks to run ssh_execute on web01:22 ...",
 *   "event": "approval_requested",
 *   "request": { "id": "...", "state": "pending", "principal": "alice", ... } }
 * ```
 *
 * Fire and forget: a POST never blocks, decides or approves anything. At
 * most 4 run at once (100 more wait, beyond that a notification is dropped
 * and logged), each for at most 5 seconds; TLS is verified by `fetch`. A
 * failure is logged as `approval_webhook_failed` with the URL's origin and
 * the HTTP status or the error's class only: Slack puts its token in the
 * path, and a fetch error's message quotes the whole URL.
 *
 * In `text`, `&`, `<` and `>` are escaped as Slack asks, so a command such
 * as `<!channel>` cannot ping a channel or forge a link.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ApprovalRequest } from "./approval.ts";

const log = getLogger(["gateway", "approvals"]);

/** The events the webhook hears of (the audit events of the same names). */
export type ApprovalWebhookEvent =
  | "approval_requested"
  | "approval_granted"
  | "approval_denied"
  | "approval_expired";

/** Where notifications of requests and decisions go. */
export interface ApprovalNotifier {
  /** Queues one notification; never throws, never waits for the POST. */
  notify(event: ApprovalWebhookEvent, request: ApprovalRequest): void;
  /** Waits for the POSTs in flight (each ends within its timeout); drops the queued ones. */
  close(): Promise<void>;
}

/** Options of {@linkcode createApprovalWebhook}. */
export interface ApprovalWebhookOptions {
  /** `APPROVAL_WEBHOOK_URL` (secret: never logged beyond its origin). */
  readonly url: URL;
  /** `APPROVAL_CONSOLE_URL`, linked in `text`. */
  readonly consoleUrl?: URL;
  /** Time allowed for one POST (default 5000 ms). */
  readonly timeoutMs?: number;
  /** POSTs at once (default 4). */
  readonly maxConcurrent?: number;
  /** Notifications waiting for a slot before new ones are dropped (default 100). */
  readonly maxQueued?: number;
}

/** Characters of a command shown in `text` (the `request` field has it whole). */
const TEXT_COMMAND_CHARS = 200;

/** The webhook of `APPROVAL_WEBHOOK_URL`; see the module doc. */
export function createApprovalWebhook(
  options: ApprovalWebhookOptions,
): ApprovalNotifier {
  const url = options.url.href;
  const origin = options.url.origin;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxConcurrent = options.maxConcurrent ?? 4;
  const maxQueued = options.maxQueued ?? 100;
  const queue: (() => Promise<void>)[] = [];
  const running = new Set<Promise<void>>();
  let closed = false;

  const failed = (
    event: ApprovalWebhookEvent,
    request: ApprovalRequest,
    why: { status?: number; error?: string },
  ): void => {
    log.warn("approval_webhook_failed", {
      webhook_event: event,
      request_id: request.id,
      origin,
      status: why.status ?? null,
      error: why.error ?? null,
    });
  };

  const post = async (
    event: ApprovalWebhookEvent,
    request: ApprovalRequest,
  ): Promise<void> => {
    const body = JSON.stringify({
      text: webhookText(event, request, options.consoleUrl),
      event,
      request: webhookRequest(request),
    });
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        redirect: "error",
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      if (!response.ok) failed(event, request, { status: response.status });
    } catch (error) {
      // Only the class: the message of a fetch error quotes the URL.
      failed(event, request, {
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  };

  const pump = (): void => {
    while (running.size < maxConcurrent && queue.length > 0) {
      const job = queue.shift()!;
      const run = job().finally(() => {
        running.delete(run);
        pump();
      });
      running.add(run);
    }
  };

  return {
    notify(event, request): void {
      if (closed) return;
      if (queue.length >= maxQueued) {
        failed(event, request, { error: "queue_full" });
        return;
      }
      queue.push(() => post(event, request));
      pump();
    },
    async close(): Promise<void> {
      closed = true;
      queue.length = 0;
      await Promise.allSettled([...running]);
    },
  };
}

/** The `request` object of a notification: what the approver sees, never a secret or a handle. */
export function webhookRequest(
  request: ApprovalRequest,
): Record<string, string | number | null> {
  return {
    id: request.id,
    state: request.state,
    principal: request.principal,
    clientIp: request.clientIp,
    tool: request.tool,
    host: request.host ?? null,
    port: request.port ?? null,
    safe: request.safe,
    object: request.object,
    username: request.username ?? null,
    command: request.command ?? null,
    database: request.database ?? null,
    rule: request.rule,
    reason: request.reason ?? null,
    handleId: request.handleId ?? null,
    approver: request.approver ?? null,
    comment: request.comment ?? null,
    createdAt: new Date(request.createdAt).toISOString(),
    expiresAt: new Date(request.expiresAt).toISOString(),
  };
}

/** The one human line of a notification (Slack-escaped). */
export function webhookText(
  event: ApprovalWebhookEvent,
  request: ApprovalRequest,
  consoleUrl?: URL,
): string {
  const where = request.host === undefined
    ? ""
    : ` on ${request.host}${
      request.port === undefined ? "" : `:${request.port}`
    }`;
  const account = `${request.safe}/${request.object}${
    request.username === undefined ? "" : ` as ${request.username}`
  }`;
  const command = request.command === undefined
    ? ""
    : `: ${oneLine(request.command)}`;
  const rule = `(rule ${request.rule})`;
  const link = consoleUrl === undefined ? "" : `; ${consoleUrl.href}`;
  const comment = request.comment === undefined || request.comment === ""
    ? ""
    : `: "${oneLine(request.comment)}"`;
  let line: string;
  switch (event) {
    case "approval_requested":
      line =
        `${request.principal} asks to run ${request.tool}${where} with ${account}${command} ${rule}; approve or deny within ${
          Math.max(
            0,
            Math.round((request.expiresAt - request.createdAt) / 1000),
          )
        } s${link}`;
      break;
    case "approval_granted":
      line =
        `${request.approver} approved ${request.principal}'s ${request.tool}${where} ${rule}${comment}`;
      break;
    case "approval_denied":
      line =
        `${request.approver} denied ${request.principal}'s ${request.tool}${where} ${rule}${comment}`;
      break;
    case "approval_expired":
      line =
        `${request.principal}'s ${request.tool}${where} expired without a decision ${rule}`;
      break;
  }
  return slackEscape(line);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > TEXT_COMMAND_CHARS
    ? `${flat.slice(0, TEXT_COMMAND_CHARS)}…`
    : flat;
}

function slackEscape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}
