/**
 * The tamper-evident audit log end to end: the real gateway (`deno task
 * start`) with AUDIT_CHAIN_KEY, tool calls through the MCP SDK client, its
 * stdout as written, and `deno task audit-verify` on it: exit 0 for the log
 * as written, 1 naming the right line for each kind of tampering, and a
 * restart verifying as a second segment of the same chain.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { runDenoTask } from "../support/deno_task.ts";
import { freePort } from "../support/free_port.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { assertNoLeak, parseLogLines } from "../support/log_lines.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";

const CHAIN_KEY = Array.from(
  crypto.getRandomValues(new Uint8Array(32)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");
const REPLICA = "gw-e2e";
const SECRET = `Db-${crypto.randomUUID()}`;

/** The JSON object on a log line, or undefined for any other line. */
function record(line: string): Record<string, unknown> | undefined {
  return parseLogLines([line])[0];
}

/** Index of the first audit line of `event` (from `from` on). */
function indexOf(lines: readonly string[], event: string, from = 0): number {
  const index = lines.findIndex((line, i) =>
    i >= from && record(line)?.logger === "audit" &&
    record(line)?.event === event
  );
  assert(index >= 0, `no ${event} line in:\n${lines.join("\n")}`);
  return index;
}

/** Indexes of every audit line. */
function auditIndexes(lines: readonly string[]): number[] {
  return lines.flatMap((line, i) =>
    record(line)?.logger === "audit" ? [i] : []
  );
}

/** Runs `deno task audit-verify` on `lines` written to a file, the key in `.env`. */
async function auditVerify(
  dir: string,
  name: string,
  lines: readonly string[],
  args: string[] = [],
  env: Record<string, string> = { AUDIT_CHAIN_KEY: CHAIN_KEY },
): Promise<{ code: number; stdout: string; stderr: string; file: string }> {
  const file = `${dir}/${name}`;
  await Deno.writeTextFile(file, lines.map((l) => `${l}\n`).join(""));
  const output = await runDenoTask("audit-verify", env, {
    args: [...args, file],
  });
  return { ...output, file };
}

/** Starts a gateway of chain {@linkcode REPLICA} and connects SDK clients to two endpoints. */
async function runGateway(
  env: Record<string, string>,
  key: string,
): Promise<{ gateway: GatewayProcess; cyberark: Client; database: Client }> {
  const gateway = await startGateway({
    ...env,
    AUDIT_CHAIN_KEY: CHAIN_KEY,
    AUDIT_REPLICA: REPLICA,
  });
  const cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
  const database = await connectMcp(`${gateway.baseUrl}/mcp/database`, key);
  return { gateway, cyberark, database };
}

Deno.test({
  name:
    "audit-verify: the real gateway's chained log verifies; deleted, reordered, edited and cut lines are named; a restart is a new segment",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const closedPort = freePort();
    const ccp = await startCcpFixture("DB-SAFE", [{
      Content: SECRET,
      Name: "pg-reader",
      UserName: "reader",
      Address: "127.0.0.1",
      PolicyID: "PostgreSQL",
      Port: String(closedPort),
    }]);
    const dir = await Deno.makeTempDir({ prefix: "mcp-audit-verify-" });
    const credential = { safe: "DB-SAFE", object_name: "pg-reader" };
    const handles: string[] = [];
    let first: string[] = [];
    try {
      await t.step(
        "the gateway chains every audit line of its run",
        async () => {
          const { gateway, cyberark, database } = await runGateway(
            ccp.gatewayEnv,
            ccp.key,
          );
          try {
            const started = await gateway.waitFor((e) =>
              e.event === "service_started"
            );
            assertEquals(started.audit_chain, "hmac");
            handles.push(await issueHandle(cyberark, credential));
            handles.push(await issueHandle(cyberark, credential));
            handles.push(await issueHandle(cyberark, credential));
            // A handle written into the query: redacted before the MAC. The
            // database's port is closed: the call fails, and is audited.
            const outcome = await callToolText(database, {
              name: "db_query",
              arguments: {
                host: "127.0.0.1",
                port: closedPort,
                database: "app",
                db_type: "postgres",
                query: `SELECT '${handles[1]}'`,
                secret_handle: handles[0],
              },
            });
            assertEquals(outcome.isError, true, outcome.text);
            await gateway.waitFor((e) => e.event === "db_queried");
          } finally {
            await cyberark.close();
            await database.close();
            await gateway.stop();
          }
          first = [...gateway.lines];
          assertNoLeak(first, [...handles, CHAIN_KEY, SECRET, ccp.key]);
          const audits = auditIndexes(first).map((i) => record(first[i]!)!);
          assertEquals(audits[0]!.event, "audit_chain_started");
          // SIGTERM: the drained shutdown's last audit line closes the segment.
          assertEquals(audits.at(-1)!.event, "audit_chain_closed");
          assertEquals(audits.map((a) => a.seq), audits.map((_, i) => i));
          for (const audit of audits) {
            assertEquals(audit.chain, REPLICA);
            assertMatch(String(audit.mac), /^[0-9a-f]{64}$/);
          }
          const queried = audits.find((a) => a.event === "db_queried")!;
          assertStringIncludes(String(queried.query), "SELECT 'secret-id:");
        },
      );

      await t.step("the log as written verifies (exit 0)", async () => {
        const run = await auditVerify(dir, "intact.log", first);
        assertEquals(run.code, 0, run.stdout + run.stderr);
        assertMatch(
          run.stdout,
          new RegExp(
            `^chain ${REPLICA} segment [0-9a-f]{32}: OK \\d+ lines \\(seq 0-\\d+\\)`,
            "m",
          ),
        );
        assertMatch(
          run.stdout,
          /^audit-verify: OK: 1 segment\(s\) of 1 chain/m,
        );
      });

      await t.step(
        "the key may come from --key-file; without any key it is a usage error (exit 2)",
        async () => {
          const keyFile = `${dir}/chain.key`;
          await Deno.writeTextFile(keyFile, `${CHAIN_KEY}\n`, { mode: 0o600 });
          const withFile = await auditVerify(dir, "intact.log", first, [
            "--key-file",
            keyFile,
          ], {});
          assertEquals(withFile.code, 0, withFile.stdout + withFile.stderr);
          const without = await auditVerify(dir, "intact.log", first, [], {});
          assertEquals(without.code, 2);
          assertStringIncludes(without.stderr, "Cannot verify MACs: no key");
        },
      );

      await t.step("a deleted line is named (exit 1)", async () => {
        const at = indexOf(first, "credential_fetched");
        const next = auditIndexes(first).find((i) => i > at)!;
        const tampered = first.filter((_, i) => i !== at);
        const run = await auditVerify(dir, "deleted.log", tampered);
        assertEquals(run.code, 1, run.stdout);
        assertStringIncludes(
          run.stdout,
          `BROKEN at ${run.file}:${next}: expected seq`,
        );
        assertStringIncludes(run.stdout, "is missing");
      });

      await t.step("reordered lines are named (exit 1)", async () => {
        const at = indexOf(first, "credential_fetched");
        const next = auditIndexes(first).find((i) => i > at)!;
        const tampered = [...first];
        [tampered[at], tampered[next]] = [first[next]!, first[at]!];
        const run = await auditVerify(dir, "reordered.log", tampered);
        assertEquals(run.code, 1, run.stdout);
        assertStringIncludes(
          run.stdout,
          `BROKEN at ${run.file}:${at + 1}: expected seq`,
        );
        assertStringIncludes(run.stdout, "out of order");
      });

      await t.step("an edited field is named (exit 1)", async () => {
        const at = indexOf(first, "credential_fetched");
        const tampered = [...first];
        tampered[at] = first[at]!.replace(
          '"object_name":"pg-reader"',
          '"object_name":"pg-other"',
        );
        assert(tampered[at] !== first[at]);
        const run = await auditVerify(dir, "edited.log", tampered);
        assertEquals(run.code, 1, run.stdout);
        assertStringIncludes(
          run.stdout,
          `BROKEN at ${run.file}:${at + 1}: mac mismatch`,
        );
      });

      await t.step(
        "a tail cut before a checkpoint kept elsewhere is named (exit 1)",
        async () => {
          const audits = auditIndexes(first);
          const last = record(first[audits.at(-1)!]!)!;
          const checkpoint =
            `${last.chain}:${last.segment}:${last.seq}:${last.mac}`;
          const kept = await auditVerify(dir, "intact.log", first, [
            "--checkpoint",
            checkpoint,
          ]);
          assertEquals(kept.code, 0, kept.stdout);
          const cutAt = audits.at(-3)!;
          const run = await auditVerify(
            dir,
            "cut.log",
            first.slice(0, cutAt + 1),
            ["--checkpoint", checkpoint],
          );
          assertEquals(run.code, 1, run.stdout);
          assertStringIncludes(
            run.stdout,
            `BROKEN at ${run.file}:${cutAt + 1}: the segment ends at seq`,
          );
          assertStringIncludes(run.stdout, "(truncated)");
        },
      );

      await t.step(
        "a restart starts a new segment of the same chain; both verify",
        async () => {
          const { gateway, cyberark, database } = await runGateway(
            ccp.gatewayEnv,
            ccp.key,
          );
          try {
            handles.push(await issueHandle(cyberark, credential));
          } finally {
            await cyberark.close();
            await database.close();
            await gateway.stop();
          }
          const second = [...gateway.lines];
          assertNoLeak(second, [...handles, CHAIN_KEY, SECRET]);
          const start = record(
            second[indexOf(second, "audit_chain_started")]!,
          )!;
          assertEquals(start.seq, 0);
          assertEquals(start.chain, REPLICA);
          assert(
            start.segment !==
              record(first[indexOf(first, "audit_chain_started")]!)!.segment,
          );
          const run = await auditVerify(dir, "both.log", [...first, ...second]);
          assertEquals(run.code, 0, run.stdout + run.stderr);
          const segments = run.stdout.split("\n").filter((l) =>
            l.startsWith(`chain ${REPLICA} segment `)
          );
          assertEquals(segments.length, 2, run.stdout);
          for (const line of segments) {
            assertMatch(line, /: OK \d+ lines \(seq 0-\d+\), closed; head /);
          }
          assertStringIncludes(
            run.stdout,
            "2 segment(s) of 1 chain(s), 0 broken",
          );
        },
      );
    } finally {
      await ccp.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
