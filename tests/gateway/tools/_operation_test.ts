/**
 * The shared target-tool pipeline (`runTargetOperation`) with a real handle
 * vault and a recording executor runner: the order of its steps, what a
 * refused call spends, the audit line, and which errors the model sees.
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type {
  ExecutorCall,
  ExecutorOutcome,
  ExecutorRunner,
  ResultOf,
} from "../../../executors/spawner/mod.ts";
import type { Operation } from "../../../executors/protocol/mod.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import { InputError } from "../../../gateway/input_error.ts";
import { SetupError } from "../../../gateway/setup_error.ts";
import type { ToolContext } from "../../../gateway/tool_context.ts";
import {
  hostPort,
  runTargetOperation,
  type TargetCall,
  type TargetTool,
} from "../../../gateway/tools/_operation.ts";
import { HandleVault } from "../../../vault/handle_vault.ts";
import { Secret } from "../../../vault/secret.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";

const SECRET = "pipeline-Secret-9f2c";
const ENV: Record<string, string> = {
  MCP_API_KEYS: "p".repeat(8) + "0123456789abcdef0123456789abcdef",
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

/** Answers every run with a fixed outcome and remembers the calls. */
class RecordingRunner implements ExecutorRunner {
  readonly calls: ExecutorCall[] = [];
  #answer: (call: ExecutorCall) => Promise<ExecutorOutcome>;

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
}

const TIMING = { queuedMs: 0, runMs: 1 };

function sshSuccess(): Promise<ExecutorOutcome> {
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

interface Harness {
  context: ToolContext;
  runner: RecordingRunner;
  vault: HandleVault;
  handle: string;
  records: LogRecord[];
  close(): Promise<void>;
}

async function harness(
  answer: (call: ExecutorCall) => Promise<ExecutorOutcome> = sshSuccess,
): Promise<Harness> {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["audit"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["gateway"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
    reset: true,
  });
  const config = loadConfig({ env: ENV, home: "/nonexistent" });
  const vault = new HandleVault({
    ttlSeconds: 300,
    singleUse: true,
    hostBinding: true,
  });
  const issued = await vault.issue({
    secret: new Secret(SECRET),
    username: "root",
    address: "127.0.0.1",
    safe: "LINUX",
    objectName: "linux-root",
    folder: "Root",
    properties: {},
  });
  const runner = new RecordingRunner(answer);
  const ccp = createCcpClient(config.cyberark);
  return {
    context: {
      services: { config, ccp, vault, executors: runner },
      clientIp: "192.0.2.7",
      apiKeyId: "key-1",
    },
    runner,
    vault,
    handle: issued.handle,
    records,
    async close(): Promise<void> {
      ccp.close();
      await vault.close();
      await reset();
    },
  };
}

/** Runs `fn` against a fresh harness and always closes it. */
async function withHarness(
  fn: (h: Harness) => Promise<void>,
  answer?: (call: ExecutorCall) => Promise<ExecutorOutcome>,
): Promise<void> {
  const h = await harness(answer);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** Runs the tool with the harness's handle. */
function runWith(
  h: Harness,
  targetTool: TargetTool<"ssh", string>,
  extra: Partial<TargetCall> = {},
): Promise<CallToolResult> {
  return runTargetOperation(targetTool, call(h.handle, extra), h.context);
}

/** A minimal SSH-like tool whose steps record their order. */
function tool(
  steps: string[],
  overrides: Partial<TargetTool<"ssh", string>> = {},
): TargetTool<"ssh", string> {
  return {
    name: "test_tool",
    event: "ssh_executed",
    prepare: (target) => {
      steps.push(`prepare ${hostPort(target)}`);
      return "prepared";
    },
    warnInsecure: () => {
      steps.push("warn");
    },
    operation: (prepared) => {
      steps.push(`operation ${prepared}`);
      return {
        kind: "ssh",
        command: "uptime",
        hostKeys: { mode: "disabled" },
      };
    },
    auditFields: () => ({ command: "uptime" }),
    succeeded: (result) => ({
      audit: { exit_code: result.exitCode },
      text: `ok ${result.stdout.trim()}`,
    }),
    failed: (failure) => ({
      audit: { exit_code: null, error_code: failure.code },
      text: `failed: ${failure.message}`,
    }),
    ...overrides,
  };
}

function call(handle: string, extra: Partial<TargetCall> = {}): TargetCall {
  return {
    host: "127.0.0.1",
    port: 2222,
    secretHandle: handle,
    timeoutSeconds: 5,
    ...extra,
  };
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  assert(first !== undefined && first.type === "text", "no text content");
  return first.text;
}

function audits(records: LogRecord[]): LogRecord[] {
  return records.filter((r) => r.category[0] === "audit");
}

async function stillRedeemable(h: Harness): Promise<void> {
  const redeemed = await h.vault.redeem(h.handle, { host: "127.0.0.1" });
  assertEquals(redeemed.username, "root");
}

Deno.test("runTargetOperation() validates, prepares, redeems, warns, runs and audits in that order", async () => {
  await withHarness(async (h) => {
    const steps: string[] = [];
    const result = await runWith(
      h,
      tool(steps),
    );
    assertEquals(result.isError, undefined);
    assertEquals(text(result), "ok up");
    assertEquals(steps, [
      "prepare 127.0.0.1:2222",
      "warn",
      "operation prepared",
    ]);
    assertEquals(h.runner.calls.length, 1);
    const sent = h.runner.calls[0]!;
    assertEquals(sent.target, { host: "127.0.0.1", port: 2222 });
    assertEquals(sent.timeoutMs, 5000);
    assertEquals(sent.credential.username, "root");
    assertEquals(sent.credential.secret.reveal(), SECRET);
    const [line] = audits(h.records);
    assert(line !== undefined, "no audit line");
    assertEquals(line.level, "info");
    const fields = line.properties;
    assertEquals(fields.host, "127.0.0.1");
    assertEquals(fields.port, 2222);
    assertEquals(fields.username, "root");
    assertEquals(fields.command, "uptime");
    assertEquals(fields.exit_code, 0);
    assertEquals(fields.client_ip, "192.0.2.7");
    assertMatch(String(fields.handle_id), /^[0-9a-f]{16}$/);
    assert(!JSON.stringify(h.records).includes(SECRET), "secret in a log");
    assert(!JSON.stringify(h.records).includes(h.handle), "handle in a log");
  });
});

Deno.test("runTargetOperation() refuses a malformed host as input, spending nothing", async () => {
  await withHarness(async (h) => {
    const steps: string[] = [];
    const result = await runWith(
      h,
      tool(steps),
      { host: "db01;rm -rf /" },
    );
    assertEquals(result.isError, true);
    assertMatch(text(result), /host/i);
    assert(!text(result).startsWith("Internal error"), text(result));
    assertEquals(steps, []);
    assertEquals(h.runner.calls.length, 0);
    await stillRedeemable(h);
  });
});

Deno.test("runTargetOperation() shows a tool's InputError refusal and keeps the handle", async () => {
  await withHarness(async (h) => {
    const result = await runWith(
      h,
      tool([], {
        prepare: () => {
          throw new InputError("Refused: use_ssl is required here");
        },
      }),
    );
    assertEquals(result.isError, true);
    assertEquals(text(result), "Refused: use_ssl is required here");
    assertEquals(h.runner.calls.length, 0);
    assertEquals(audits(h.records), []);
    await stillRedeemable(h);
  });
});

Deno.test("runTargetOperation() refuses a handle used against another host, without spending it", async () => {
  await withHarness(async (h) => {
    const result = await runWith(
      h,
      tool([]),
      { host: "127.0.0.2" },
    );
    assertEquals(result.isError, true);
    assertEquals(h.runner.calls.length, 0);
    const [line] = audits(h.records);
    assertEquals(line?.message.join(""), "handle_refused");
    await stillRedeemable(h);
  });
});

Deno.test("runTargetOperation() audits an executor failure as a warning and shows the tool's text", async () => {
  await withHarness(async (h) => {
    const result = await runWith(
      h,
      tool([]),
    );
    assertEquals(result.isError, true);
    assertEquals(text(result), "failed: Permission denied");
    const [line] = audits(h.records);
    assertEquals(line?.level, "warning");
    assertEquals(line?.properties.error_code, "auth_failed");
    assertEquals(line?.properties.exit_code, null);
  }, () =>
    Promise.resolve({
      ok: false,
      error: { code: "auth_failed", message: "Permission denied" },
      timing: TIMING,
    }));
});

Deno.test("runTargetOperation() treats a TypeError as a bug: internal error with a reference, message only in no log", async () => {
  await withHarness(async (h) => {
    const result = await runWith(
      h,
      tool([]),
    );
    assertEquals(result.isError, true);
    const shown = text(result);
    const reference = /reference ([0-9a-f]{8})/.exec(shown)?.[1];
    assert(reference !== undefined, shown);
    assertMatch(shown, /^Internal error in test_tool/);
    assert(!shown.includes(SECRET), "secret shown to the model");
    const logged = h.records.find((r) => r.properties.reference === reference);
    assert(logged !== undefined, "reference not logged");
    assertEquals(logged.level, "error");
    assertEquals(logged.properties.name, "TypeError");
    assert(!JSON.stringify(h.records).includes(SECRET), "secret in a log");
  }, () => {
    throw new TypeError(`driver blew up near ${SECRET}`);
  });
});

Deno.test("runTargetOperation() shows and logs a SetupError, spending no handle", async () => {
  await withHarness(async (h) => {
    const result = await runWith(
      h,
      tool([], {
        prepare: () => {
          throw new SetupError(
            "Cannot read SSH_KNOWN_HOSTS file /etc/x (PermissionDenied); make it readable by the service user",
          );
        },
      }),
    );
    assertEquals(result.isError, true);
    assertMatch(text(result), /^Cannot read SSH_KNOWN_HOSTS/);
    assert(
      h.records.some((r) =>
        r.level === "error" &&
        String(r.properties.message).startsWith("Cannot read SSH_KNOWN_HOSTS")
      ),
      "setup error not logged",
    );
    await stillRedeemable(h);
  });
});

Deno.test("hostPort() brackets IPv6 addresses and nothing else", () => {
  assertEquals(hostPort({ host: "db01", port: 5432 }), "db01:5432");
  assertEquals(hostPort({ host: "10.0.0.1", port: 22 }), "10.0.0.1:22");
  assertEquals(hostPort({ host: "::1", port: 1433 }), "[::1]:1433");
});
