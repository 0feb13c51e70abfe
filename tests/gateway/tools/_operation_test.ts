/**
 * The shared target-tool pipeline (`runTargetOperation`) with a real handle
 * vault and a recording executor runner: the order of its steps, what a
 * refused call spends, the audit line, and which errors the model sees.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  ExecutorBusyError,
  ExecutorSpawner,
  ExecutorWaitTimeoutError,
} from "../../../executors/spawner/mod.ts";
import { InputError } from "../../../gateway/input_error.ts";
import { SetupError } from "../../../gateway/setup_error.ts";
import {
  hostPort,
  runTargetOperation,
  type TargetCall,
  type TargetTool,
} from "../../../gateway/tools/_operation.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  audits,
  type Harness,
  harness,
  SECRET,
  sshSuccess,
  stillRedeemable,
  text,
  TIMING,
  withHarness,
} from "./_harness.ts";

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
    name: "ssh_execute",
    command: "uptime",
    event: "ssh_executed",
    protocol: "ssh",
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
    args: {},
    ...extra,
  };
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
    assertEquals(fields.principal, "agent-1");
    assertEquals(fields.auth, "api_key");
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
    assertEquals(
      text(result),
      "Refused: use_ssl is required here; the handle was not used",
    );
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
    assertEquals(line?.properties.principal, "agent-1");
    assertEquals(line?.properties.auth, "api_key");
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

Deno.test("runTargetOperation() reserves the slot naming the handle's id and audits which executor ran", async () => {
  for (const executor of ["cold", "warm"] as const) {
    await withHarness(async (h) => {
      const { handleId } = await h.vault.check(h.handle, h.bound);
      const result = await runWith(h, tool([]));
      assertEquals(result.isError, undefined, text(result));
      assertEquals(h.runner.reservations.length, 1);
      assertEquals(h.runner.reservations[0]?.handleId, handleId);
      const [line] = audits(h.records);
      assertEquals(line?.properties.executor, executor);
      assertEquals(line?.properties.handle_id, handleId);
    }, async () => {
      const outcome = await sshSuccess();
      return { ...outcome, timing: { ...TIMING, executor, pid: 4242 } };
    });
  }
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
    assertMatch(shown, /^Internal error in ssh_execute/);
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

Deno.test("runTargetOperation() refuses a busy service before taking the handle, and says the handle was not used", async () => {
  for (
    const refusal of [
      new ExecutorBusyError(8, 64),
      new ExecutorWaitTimeoutError(8, 30_000),
    ]
  ) {
    await withHarness(async (h) => {
      h.runner.refuseSlots = refusal;
      const result = await runWith(h, tool([]));
      assertEquals(result.isError, true);
      assertMatch(text(result), /the handle was not used$/);
      assertEquals(h.runner.calls.length, 0);
      await stillRedeemable(h);
    });
  }
});

Deno.test("runTargetOperation() frees its executor slot whatever happens after taking it", async () => {
  const broken = tool([], {
    operation: () => {
      throw new TypeError("a bug after the handle was taken");
    },
  });
  for (const targetTool of [tool([]), broken]) {
    await withHarness(async (h) => {
      await runWith(h, targetTool);
      assertEquals(h.runner.reserved, 1);
      assertEquals(h.runner.released, 1);
    });
  }
});

Deno.test("runTargetOperation() refuses a handle used with another tool or port before holding a slot, without spending it", async () => {
  for (
    const [extra, protocol] of [
      [{ port: 22 }, "ssh"],
      [{}, "postgres"],
    ] as const
  ) {
    await withHarness(async (h) => {
      const result = await runWith(h, { ...tool([]), protocol }, extra);
      assertEquals(result.isError, true);
      assertMatch(text(result), /the handle was not used/);
      assertEquals(h.runner.reserved, 0);
      assertEquals(h.runner.calls.length, 0);
      const [line] = audits(h.records);
      assertEquals(line?.message.join(""), "handle_scope_refused");
      assertEquals(line?.properties.expected_protocol, "ssh");
      assertEquals(line?.properties.expected_ports, "2222");
      assertEquals(line?.properties.tool, "ssh_execute");
      assertEquals(line?.properties.client_ip, "192.0.2.7");
      assertEquals(line?.properties.principal, "agent-1");
      assertEquals(line?.properties.auth, "api_key");
      assertMatch(String(line?.properties.handle_id), /^[0-9a-f]{16}$/);
      await stillRedeemable(h);
    });
  }
});

Deno.test("runTargetOperation() on a real spawner with every slot taken: each refused call keeps its handle", async () => {
  await withHarness(async (h) => {
    const spawner = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 0 });
    const context = {
      ...h.context,
      services: { ...h.context.services, executors: spawner },
    };
    const held = await spawner.reserve({ timeoutMs: 60_000 });
    try {
      const handles = [h.handle, await h.issue(), await h.issue()];
      const results = await Promise.all(
        handles.map((secretHandle) =>
          runTargetOperation(tool([]), {
            host: "127.0.0.1",
            port: 2222,
            secretHandle,
            timeoutSeconds: 5,
            args: {},
          }, context)
        ),
      );
      for (const result of results) {
        assertEquals(result.isError, true);
        assertMatch(text(result), /busy.*the handle was not used$/);
      }
      for (const handle of handles) {
        await h.vault.check(handle, h.bound);
      }
    } finally {
      held.release();
    }
    assertEquals(spawner.running, 0);
  });
});

Deno.test("runTargetOperation() with one single-use handle sent twenty times at once runs exactly once", async () => {
  await withHarness(async (h) => {
    const results: CallToolResult[] = await Promise.all(
      Array.from({ length: 20 }, () => runWith(h, tool([]))),
    );
    const succeeded = results.filter((r) => r.isError !== true);
    assertEquals(succeeded.length, 1);
    assertEquals(h.runner.calls.length, 1);
    assertEquals(h.runner.reserved, h.runner.released);
    for (const refused of results.filter((r) => r.isError === true)) {
      assertMatch(text(refused), /consumed|already been used/i);
    }
  });
});

Deno.test("runTargetOperation() refuses a principal over TOOL_CALL_LIMIT before validating anything, spending no handle", async () => {
  // A window no test run outlasts: the limit never resets while the test runs.
  const h = await harness(undefined, undefined, {
    env: { TOOL_CALL_LIMIT: "2", TOOL_CALL_WINDOW_SECONDS: "3600" },
  });
  try {
    const steps: string[] = [];
    for (let i = 0; i < 2; i++) {
      const fresh = await h.issue();
      const ok = await runTargetOperation(tool(steps), call(fresh), h.context);
      assertEquals(ok.isError, undefined, text(ok));
    }
    steps.length = 0;
    const refused = await runWith(h, tool(steps), { host: "db01;rm -rf /" });
    assertEquals(refused.isError, true);
    assertMatch(
      text(refused),
      /^Rate limit reached: principal "agent-1" may make 2 tool calls per 3600 seconds \(TOOL_CALL_LIMIT, TOOL_CALL_WINDOW_SECONDS\); retry in \d+ seconds; the handle was not used$/,
    );
    assertEquals(steps, [], "refused before validation and prepare");
    assertEquals(h.runner.calls.length, 2);
    const limited = audits(h.records).filter((r) =>
      r.rawMessage === "rate_limited"
    );
    assertEquals(limited.length, 1);
    const fields = limited[0]!.properties;
    assertEquals(limited[0]!.level, "warning");
    assertEquals(fields.reason, "tool_calls");
    assertEquals(fields.tool, "ssh_execute");
    assertEquals(fields.principal, "agent-1");
    assertEquals(fields.auth, "api_key");
    assertEquals(fields.client_ip, "192.0.2.7");
    assert(typeof fields.retry_after_seconds === "number");
    await stillRedeemable(h);
  } finally {
    await h.close();
  }
});

Deno.test("runTargetOperation() counts no calls with TOOL_CALL_LIMIT unset", async () => {
  await withHarness(async (h) => {
    for (let i = 0; i < 20; i++) {
      const refused = await runWith(h, tool([]), { host: "db01;rm -rf /" });
      assert(!text(refused).startsWith("Rate limit"), text(refused));
    }
    await stillRedeemable(h);
  });
});
