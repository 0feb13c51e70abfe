/**
 * A model that writes a live handle into a command, a script or a query must
 * not put a redeemable handle into the audit log, the debug log or an error
 * text: each shows the handle's id instead, and the handle stays usable only
 * by whoever already had it.
 */
import type { ExecutorCall } from "../../../executors/spawner/mod.ts";
import { runTargetOperation } from "../../../gateway/tools/_operation.ts";
import { dbTool } from "../../../gateway/tools/db_query.ts";
import { psTool } from "../../../gateway/tools/ps_execute.ts";
import { sshTool } from "../../../gateway/tools/ssh_execute.ts";
import { handleIdOf } from "../../../vault/handle_vault.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { type Harness, text, TIMING, withHarness } from "./_harness.ts";

/** Fails the operation with a message that echoes what it was given. */
function echoingFailure(call: ExecutorCall): Promise<never> {
  const op = call.operation as {
    command?: string;
    script?: string;
    query?: string;
  };
  return Promise.resolve({
    ok: false,
    error: {
      code: "driver_error",
      message: `near "${op.command ?? op.script ?? op.query}"`,
    },
    timing: TIMING,
  } as never);
}

async function assertNoLiveHandle(
  h: Harness,
  run: (text: string) => Promise<string>,
  audited = true,
): Promise<void> {
  const other = await h.issue();
  const shown = await run(`echo ${other}`);
  const id = `secret-id:${handleIdOf(other)}`;
  const logged = h.lines.join("");
  assert(!shown.includes(other), `error text: ${shown}`);
  assert(shown.includes(id), shown);
  assert(!logged.includes(other), `log: ${logged}`);
  // The command and the query are audited; a script only by its length.
  assertEquals(logged.includes(id), audited, logged);
  // Mentioning a handle spends nothing: it still works for its owner.
  const redeemed = await h.vault.redeem(other, h.bound);
  assertEquals(redeemed.username, "root");
}

function target(h: Harness): {
  host: string;
  port: number;
  secretHandle: string;
  timeoutSeconds: number;
  args: Record<string, unknown>;
} {
  return {
    host: h.bound.host,
    port: h.bound.port,
    secretHandle: h.handle,
    timeoutSeconds: 5,
    args: {},
  };
}

Deno.test("a live handle in an ssh_execute command is logged and shown as its id", async () => {
  await withHarness(async (h) => {
    await assertNoLiveHandle(h, async (command) =>
      text(
        await runTargetOperation(
          sshTool({ command }, h.context),
          target(h),
          h.context,
        ),
      ));
  }, echoingFailure);
});

Deno.test("a live handle in a ps_execute script is logged and shown as its id", async () => {
  await withHarness(
    async (h) => {
      await assertNoLiveHandle(h, async (script) =>
        text(
          await runTargetOperation(
            psTool({ script, use_ssl: false }, h.context),
            target(h),
            h.context,
          ),
        ), false);
    },
    echoingFailure,
    { policyId: "WinServerLocal", port: 5985, protocol: "winrm" },
  );
});

Deno.test("a live handle in a db_query query is logged and shown as its id", async () => {
  await withHarness(
    async (h) => {
      await assertNoLiveHandle(h, async (query) =>
        text(
          await runTargetOperation(
            dbTool({ database: "app", db_type: "postgres", query }, h.context),
            target(h),
            h.context,
          ),
        ));
    },
    echoingFailure,
    { policyId: "PostgreSQL", port: 5432, protocol: "postgres" },
  );
});
