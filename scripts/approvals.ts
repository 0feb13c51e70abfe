/**
 * `deno task approvals`: the approvals API from a terminal, for approvers
 * and chat-ops scripts.
 *
 * ```sh
 * export APPROVALS_URL=https://mcp.corp.example/approvals
 * read -rs APPROVER_KEY && export APPROVER_KEY
 * deno task approvals list [--state pending|approved|denied|expired] [--limit N] [--json]
 * deno task approvals approve ID [--comment TEXT]
 * deno task approvals deny ID --comment TEXT
 * ```
 *
 * The approver key is read from `APPROVER_KEY` only, never from the command
 * line (arguments show in `ps` and in shell history), and is sent only over
 * https (plain http only to this machine). Exit code: 0 done, 1 refused by
 * the gateway or unreachable, 2 usage error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type {
  ApprovalRequest,
  ApprovalState,
} from "../gateway/approvals/approval.ts";
import { complain, say, UsageError } from "./_cli.ts";

const STATES: readonly ApprovalState[] = [
  "pending",
  "approved",
  "denied",
  "expired",
];
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

const USAGE =
  `usage: deno task approvals list [--state pending|approved|denied|expired] [--limit N] [--json]
       deno task approvals approve ID [--comment TEXT]
       deno task approvals deny ID --comment TEXT

list     shows recent approval requests (all states unless --state), newest first
approve  approves a pending request; the waiting call then runs
deny     denies it; the comment is shown to the agent

Environment:
  APPROVALS_URL  the console's address, e.g. https://mcp.corp.example/approvals
  APPROVER_KEY   your approver key (APPROVERS); never pass it as an argument

Exit code: 0 done, 1 refused by the gateway or unreachable, 2 usage error`;

const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;

/** The gateway refused, or could not be reached. */
class RefusedError extends Error {
  override readonly name = "RefusedError";
}

type Cli =
  | { command: "help" }
  | {
    command: "list";
    state: ApprovalState | undefined;
    limit: number | undefined;
    json: boolean;
  }
  | { command: "approve" | "deny"; id: string; comment: string };

function parseCli(argv: string[]): Cli {
  // A request id is base64url and may start with "-": after approve or deny
  // the next word is the id, whatever it looks like, so the option parser
  // never sees it.
  const idFirst = (argv[0] === "approve" || argv[0] === "deny") &&
    argv[1] !== undefined && ID_PATTERN.test(argv[1]);
  const args = idFirst ? [argv[0]!, ...argv.slice(2)] : argv;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        state: { type: "string" },
        limit: { type: "string" },
        comment: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message.split("\n")[0]! : String(error),
    );
  }
  const { values } = parsed;
  const positionals = idFirst
    ? [parsed.positionals[0]!, argv[1]!, ...parsed.positionals.slice(1)]
    : parsed.positionals;
  const [command, ...rest] = positionals;
  if (values.help || command === "help") return { command: "help" };
  if (command === undefined) throw new UsageError("Name a command");
  if (command === "list") {
    if (rest.length > 0) {
      throw new UsageError(`list takes no argument, got "${rest[0]}"`);
    }
    if (values.comment !== undefined) {
      throw new UsageError("--comment goes with approve or deny");
    }
    const state = values.state;
    if (state !== undefined && !STATES.includes(state as ApprovalState)) {
      throw new UsageError(
        `--state must be one of ${STATES.join(", ")}, not "${state}"`,
      );
    }
    let limit: number | undefined;
    if (values.limit !== undefined) {
      limit = /^[0-9]{1,3}$/.test(values.limit) ? Number(values.limit) : 0;
      if (limit < 1 || limit > 500) {
        throw new UsageError("--limit must be a whole number from 1 to 500");
      }
    }
    return {
      command,
      state: state as ApprovalState | undefined,
      limit,
      json: values.json,
    };
  }
  if (command === "approve" || command === "deny") {
    const [id, ...extra] = rest;
    if (id === undefined) {
      throw new UsageError(
        `${command} needs the request id (see deno task approvals list)`,
      );
    }
    if (extra.length > 0) {
      throw new UsageError(
        `${command} takes one id; put a comment with spaces in quotes after --comment`,
      );
    }
    if (!ID_PATTERN.test(id)) {
      throw new UsageError(
        `"${
          printable(id)
        }" is not a request id (22 characters of A-Z a-z 0-9 _ -)`,
      );
    }
    if (values.state !== undefined || values.limit !== undefined) {
      throw new UsageError("--state and --limit go with list");
    }
    const comment = values.comment ?? "";
    if (command === "deny" && comment.trim() === "") {
      throw new UsageError(
        "deny needs --comment TEXT: the agent is shown why it was denied",
      );
    }
    return { command, id, comment };
  }
  throw new UsageError(`Unknown command "${printable(command)}"`);
}

interface Connection {
  base: string;
  key: string;
}

function connection(): Connection {
  const url = Deno.env.get("APPROVALS_URL")?.trim() ?? "";
  const key = Deno.env.get("APPROVER_KEY") ?? "";
  if (url === "") {
    throw new UsageError(
      "Set APPROVALS_URL to the console's address, e.g. https://mcp.corp.example/approvals",
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `APPROVALS_URL "${
        printable(url)
      }" is not a URL; use e.g. https://mcp.corp.example/approvals`,
    );
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(
    parsed.hostname,
  );
  if (
    parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)
  ) {
    throw new UsageError(
      `APPROVALS_URL must use https:// (the approver key would cross the network in clear); http:// is accepted only for localhost`,
    );
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new UsageError(
      "APPROVALS_URL must not hold a user or password; put the key in APPROVER_KEY",
    );
  }
  if (key.trim() === "") {
    throw new UsageError(
      "Set APPROVER_KEY to your approver key (read -rs APPROVER_KEY && export APPROVER_KEY); it is never taken from the command line",
    );
  }
  return { base: parsed.href.replace(/\/+$/, ""), key };
}

async function call(
  conn: Connection,
  path: string,
  init: RequestInit = {},
): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(`${conn.base}${path}`, {
      ...init,
      redirect: "error",
      headers: {
        ...init.headers,
        authorization: `Bearer ${conn.key}`,
        accept: "application/json",
      },
    });
  } catch (error) {
    throw new RefusedError(
      `Cannot reach ${conn.base}: ${
        error instanceof Error ? error.message : String(error)
      }; check APPROVALS_URL and that this machine may reach the console`,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const record = typeof body === "object" && body !== null
    ? body as Record<string, unknown>
    : undefined;
  if (!response.ok || record === undefined) {
    const message = typeof record?.message === "string"
      ? record.message
      : `HTTP ${response.status} without a JSON answer; is APPROVALS_URL the console's address (…/approvals)?`;
    throw new RefusedError(
      `${response.status === 429 ? "Rate limited" : "Refused"} (${
        typeof record?.error === "string" ? record.error : response.status
      }): ${printable(message, 500)}`,
    );
  }
  return record;
}

/** Replaces control characters (terminal escapes) with `?`, and cuts. */
function printable(text: string, max = 200): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function oneLine(text: string | undefined, max: number): string {
  if (text === undefined) return "";
  return printable(text.replace(/\r?\n/g, " ⏎ ").replace(/\t/g, " "), max);
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${
    String(Math.floor(s / 60) % 60).padStart(2, "0")
  }m`;
}

function target(r: ApprovalRequest): string {
  if (r.host === undefined) return "";
  return r.port === undefined ? r.host : `${r.host}:${r.port}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) =>
    Math.max(...rows.map((row) => [...row[i]!].length))
  );
  return rows.map((row) =>
    row.map((cell, i) =>
      i === row.length - 1
        ? cell
        : cell + " ".repeat(widths[i]! - [...cell].length)
    ).join("  ").trimEnd()
  ).join("\n");
}

function listTable(requests: ApprovalRequest[], now: number): string {
  const rows = [[
    "ID",
    "STATE",
    "AGE",
    "LEFT",
    "PRINCIPAL",
    "TOOL",
    "TARGET",
    "CREDENTIAL",
    "RULE",
    "APPROVER",
    "COMMENT",
    "COMMAND",
  ]];
  for (const r of requests) {
    rows.push([
      r.id,
      r.state,
      duration(now - r.createdAt),
      r.state === "pending" ? duration(r.expiresAt - now) : "-",
      oneLine(r.principal, 30),
      r.tool,
      oneLine(target(r), 40),
      oneLine(
        `${r.safe}/${r.object}${
          r.username === undefined ? "" : ` (${r.username})`
        }`,
        50,
      ),
      oneLine(r.rule, 30),
      oneLine(r.approver ?? "-", 20),
      oneLine(r.comment ?? "", 40),
      oneLine(r.command ?? r.database ?? "", 80),
    ]);
  }
  return table(rows);
}

async function run(cli: Exclude<Cli, { command: "help" }>): Promise<void> {
  const conn = connection();
  if (cli.command === "list") {
    const query = new URLSearchParams();
    if (cli.state !== undefined) query.set("state", cli.state);
    if (cli.limit !== undefined) query.set("limit", String(cli.limit));
    const q = query.size === 0 ? "" : `?${query}`;
    const body = await call(conn, `/api/requests${q}`);
    const requests = Array.isArray(body.requests)
      ? body.requests as ApprovalRequest[]
      : [];
    if (cli.json) {
      say(JSON.stringify(requests, null, 2));
      return;
    }
    if (requests.length === 0) {
      say(
        cli.state === undefined
          ? "No approval requests"
          : `No ${cli.state} approval requests`,
      );
      return;
    }
    const now = typeof body.now === "number" ? body.now : Date.now();
    say(listTable(requests, now));
    return;
  }
  const body = await call(
    conn,
    `/api/requests/${cli.id}/${cli.command}`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ comment: cli.comment }),
    },
  );
  const r = body.request as ApprovalRequest;
  say(
    `${r.state === "approved" ? "Approved" : "Denied"} ${r.id}: ${
      oneLine(r.principal, 40)
    } ${r.tool} ${oneLine(target(r), 60)} (rule ${oneLine(r.rule, 40)}) as ${
      oneLine(r.approver ?? "?", 40)
    }`,
  );
}

async function main(args: string[]): Promise<number> {
  try {
    const cli = parseCli(args);
    if (cli.command === "help") {
      say(USAGE);
      return 0;
    }
    await run(cli);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      complain(`${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof RefusedError) {
      complain(error.message);
      return EXIT_REFUSED;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
