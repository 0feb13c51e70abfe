/**
 * A test harness for the target-tool pipeline: a real handle vault with one
 * issued handle, an executor runner that answers with a canned outcome and
 * counts slots, and the log records both raw and as the service writes them.
 *
 * @module
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type {
  ExecutorCall,
  ExecutorOutcome,
  ExecutorReservation,
  ExecutorRunner,
  ReserveOptions,
  ResultOf,
} from "../../../executors/spawner/mod.ts";
import type { Operation } from "../../../executors/protocol/mod.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import { formatJson } from "../../../gateway/logging.ts";
import { createRateLimits } from "../../../gateway/rate_limits.ts";
import { Lifecycle } from "../../../gateway/readiness/mod.ts";
import {
  type ApprovalStore,
  createApprovalBroker,
} from "../../../gateway/approvals/mod.ts";
import { createConsoleSessions } from "../../../gateway/approvals/http/mod.ts";
import type { Policy } from "../../../gateway/policy/policy.ts";
import type { ToolContext } from "../../../gateway/tool_context.ts";
import {
  type HandleProtocol,
  HandleVault,
  type RedeemTarget,
} from "../../../vault/handle_vault.ts";
import { Secret } from "../../../vault/secret.ts";
import { assert, assertEquals } from "../../support/assert.ts";

/** The secret of the harness's account. */
export const SECRET = "pipeline-Secret-9f2c";
const ENV: Record<string, string> = {
  MCP_API_KEYS: "p".repeat(8) + "0123456789abcdef0123456789abcdef",
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
  // No known_hosts file here; host keys are the SSH executor tests' subject.
  SSH_KNOWN_HOSTS: "disable",
};

/** Answers every run with a fixed outcome and remembers the calls and slots. */
export class RecordingRunner implements ExecutorRunner {
  readonly calls: ExecutorCall[] = [];
  /** The options of every `reserve` (the handle id the call will redeem). */
  readonly reservations: ReserveOptions[] = [];
  reserved = 0;
  released = 0;
  #answer: (call: ExecutorCall) => Promise<ExecutorOutcome>;
  refuseSlots: Error | null = null;

  constructor(answer: (call: ExecutorCall) => Promise<ExecutorOutcome>) {
    this.#answer = answer;
  }

  run<K extends Operation["kind"]>(
    call: ExecutorCall<K>,
  ): Promise<ExecutorOutcome<ResultOf<K>>> {
    const recorded = call as unknown as ExecutorCall;
    this.calls.push(recorded);
    return this.#answer(recorded) as Promise<
      ExecutorOutcome<ResultOf<K>>
    >;
  }

  reserve(options: ReserveOptions = {}): Promise<ExecutorReservation> {
    if (this.refuseSlots !== null) return Promise.reject(this.refuseSlots);
    this.reservations.push(options);
    this.reserved++;
    let held = true;
    const release = (): void => {
      if (held) this.released++;
      held = false;
    };
    return Promise.resolve({
      run: <K extends Operation["kind"]>(
        call: ExecutorCall<K>,
      ): Promise<ExecutorOutcome<ResultOf<K>>> => this.run(call),
      release,
    });
  }
}

/** Timing of a canned outcome. */
export const TIMING = {
  queuedMs: 0,
  runMs: 1,
  executor: "cold",
  pid: null,
} as const;

/** A successful `uptime` over SSH. */
export function sshSuccess(): Promise<ExecutorOutcome> {
  return Promise.resolve({
    ok: true,
    result: {
      kind: "ssh",
      exitCode: 0,
      signal: null,
      stdout: "up\n",
      stderr: "",
      stdoutTruncated: false,
      stderrTruncated: false,
      hostKeyFingerprint: "SHA256:abc",
    },
    timing: TIMING,
  });
}

/** A pipeline with a real vault, one issued handle and captured logs. */
export interface Harness {
  context: ToolContext;
  runner: RecordingRunner;
  vault: HandleVault;
  handle: string;
  records: LogRecord[];
  /** The same records as the service writes them (LOG_FORMAT=json). */
  lines: string[];
  /** Issues another handle for the same account. */
  issue(): Promise<string>;
  /** Where the account's handles redeem: host, protocol and port. */
  bound: RedeemTarget;
  close(): Promise<void>;
}

/** The account the harness issues handles for (default: SSH on port 2222). */
export interface HarnessAccount {
  /** The account's platform (`PolicyID`). */
  policyId: string;
  /** The account's `Port` property, and where its handles redeem. */
  port: number;
  /** The protocol the platform maps to. */
  protocol: HandleProtocol;
}

const SSH_ACCOUNT: HarnessAccount = {
  policyId: "UnixSSH",
  port: 2222,
  protocol: "ssh",
};

/** Options of {@linkcode harness}. */
export interface HarnessOptions {
  /** Settings added to the harness's environment (e.g. `TOOL_CALL_LIMIT`). */
  env?: Record<string, string>;
  /** The policy in force (default: none, everything allowed). */
  policy?: Policy;
  /** The calling principal (default `agent-1`); handles are issued to it. */
  principal?: string;
  /** How long an approval waits, in ms (default: `APPROVAL_TIMEOUT_SECONDS`). */
  approvalTimeoutMs?: number;
  /** Where approval requests live (default: memory). */
  approvalStore?: ApprovalStore;
}

/** The harness's calling principal unless told otherwise. */
export const PRINCIPAL = "agent-1";

/** Builds a harness whose executor answers with `answer`. */
export async function harness(
  answer: (call: ExecutorCall) => Promise<ExecutorOutcome> = sshSuccess,
  account: HarnessAccount = SSH_ACCOUNT,
  options: HarnessOptions = {},
): Promise<Harness> {
  const records: LogRecord[] = [];
  const lines: string[] = [];
  await configure({
    sinks: {
      memory: (record: LogRecord) => records.push(record),
      json: (record: LogRecord) => lines.push(formatJson(record)),
    },
    loggers: [
      { category: ["audit"], lowestLevel: "info", sinks: ["memory", "json"] },
      {
        category: ["gateway"],
        lowestLevel: "debug",
        sinks: ["memory", "json"],
      },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
    reset: true,
  });
  const config = loadConfig({
    env: { ...ENV, ...options.env },
    home: "/nonexistent",
  });
  const vault = new HandleVault({
    ttlSeconds: 300,
    singleUse: true,
    hostBinding: true,
  });
  const principal = options.principal ?? PRINCIPAL;
  const issue = async (): Promise<string> =>
    (await vault.issue({
      principal,
      secret: new Secret(SECRET),
      username: "root",
      address: "127.0.0.1",
      safe: "LINUX",
      objectName: "linux-root",
      folder: "Root",
      properties: { PolicyID: account.policyId, Port: String(account.port) },
    })).handle;
  const handle = await issue();
  const runner = new RecordingRunner(answer);
  const ccp = await createCcpClient(config.cyberark);
  const approvals = createApprovalBroker({
    timeoutSeconds: config.approvals.timeoutSeconds,
    ...(options.approvalTimeoutMs === undefined
      ? {}
      : { timeoutMs: options.approvalTimeoutMs }),
    progressIntervalMs: 50,
    ...(options.approvalStore === undefined
      ? {}
      : { store: options.approvalStore }),
  });
  const consoleSessions = await createConsoleSessions();
  return {
    context: {
      services: {
        config,
        ccp,
        vault,
        executors: runner,
        rateLimits: createRateLimits(config.rateLimits),
        policy: { current: () => options.policy },
        approvals,
        consoleSessions,
        lifecycle: new Lifecycle(),
      },
      clientIp: "192.0.2.7",
      principal: { name: principal, auth: "api_key" },
    },
    runner,
    vault,
    handle,
    records,
    lines,
    issue,
    bound: {
      host: "127.0.0.1",
      port: account.port,
      protocol: account.protocol,
      principal,
    },
    async close(): Promise<void> {
      ccp.close();
      await approvals.close();
      await consoleSessions.close();
      await vault.close();
      await reset();
    },
  };
}

/** Runs `fn` against a fresh harness and always closes it. */
export async function withHarness(
  fn: (h: Harness) => Promise<void>,
  answer?: (call: ExecutorCall) => Promise<ExecutorOutcome>,
  account?: HarnessAccount,
  options?: HarnessOptions,
): Promise<void> {
  const h = await harness(answer, account, options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** The text of a tool result. */
export function text(result: CallToolResult): string {
  const first = result.content[0];
  assert(first !== undefined && first.type === "text", "no text content");
  return first.text;
}

/** The audit records among `records`. */
export function audits(records: LogRecord[]): LogRecord[] {
  return records.filter((r) => r.category[0] === "audit");
}

/** Fails unless the harness's handle still redeems for its SSH target. */
export async function stillRedeemable(h: Harness): Promise<void> {
  const redeemed = await h.vault.redeem(h.handle, h.bound);
  assertEquals(redeemed.username, "root");
}
