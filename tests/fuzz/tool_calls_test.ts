/**
 * Fuzzing the four tools through the real gateway, with the CCP emulator,
 * a real sshd and a PostgreSQL login behind them:
 *
 * - arguments generated from each tool's listed input schema with
 *   mutations (wrong types, extra members, control characters, NUL, lone
 *   surrogates, very long strings, numbers at and past their bounds,
 *   nested objects), with junk handles or a fresh real one (alice's, or
 *   bob's that alice must not use);
 * - a valid call with a lone surrogate in one string argument: an input
 *   error that names the argument;
 * - valid calls with fresh handles (ssh_execute `echo ok`, db_query
 *   `SELECT 1`) run at the same time as calls with junk handles, replays,
 *   another principal's handle and a handle for another tool.
 *
 * Besides the checks after every case (`_harness.ts`): a call with a junk
 * or foreign handle never succeeds, get_credential serves only the accounts
 * that exist, the valid calls succeed, and a refused handle stays usable.
 */
import fc from "fast-check";
import {
  boundaryNumber,
  hostileString,
  junkHandle,
  toolArguments,
  type ToolInputSchema,
  withLoneSurrogate,
} from "./_arbitraries.ts";
import { postMcp } from "./_http.ts";
import {
  ACCOUNTS,
  checkProperty,
  type FuzzTarget,
  SAFE,
  startFuzzTarget,
} from "./_harness.ts";
import {
  callTool,
  freshHandle,
  isPlaceholder,
  noteHandles,
  type Placeholder,
  TOOL_ENDPOINT,
  type ToolName,
  withRealHandle,
} from "./_tool_calls.ts";
import { stackPattern } from "./_answers.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { announceDbSkip, postgresSkipReason } from "../support/databases.ts";
import { announceSshdSkip } from "../support/sshd.ts";

const sshSkip = await announceSshdSkip();
const pgSkip = await announceDbSkip(postgresSkipReason());

const TOOLS = Object.keys(TOOL_ENDPOINT) as ToolName[];
const TARGET_TOOLS = ["ssh_execute", "ps_execute", "db_query"] as const;
type TargetTool = typeof TARGET_TOOLS[number];

/** The placeholder of the handle each target tool takes. */
const OWN_HANDLE: Record<TargetTool, Placeholder> = {
  ssh_execute: "REAL:ssh",
  ps_execute: "REAL:win",
  db_query: "REAL:pg",
};

/** Each tool's input schema, as its endpoint lists it. */
async function listSchemas(
  target: FuzzTarget,
): Promise<Record<ToolName, ToolInputSchema>> {
  const schemas: Partial<Record<ToolName, ToolInputSchema>> = {};
  for (const tool of TOOLS) {
    const answer = await postMcp(
      `${target.baseUrl}/mcp/${TOOL_ENDPOINT[tool]}`,
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      { apiKey: target.keys.alice },
    );
    const listed = JSON.parse(answer.body).result.tools as {
      name: string;
      inputSchema: ToolInputSchema;
    }[];
    schemas[tool] = listed.find((t) => t.name === tool)!.inputSchema;
  }
  return schemas as Record<ToolName, ToolInputSchema>;
}

/** Where each target tool's real target listens. */
interface Targets {
  sshPort: number;
  pgPort: number;
  pgDatabase: string;
  winrmPort: number;
}

/** Hosts: mostly the real loopback target, else junk or other loopback names. */
const host = fc.oneof(
  { weight: 3, arbitrary: fc.constant("127.0.0.1") },
  { weight: 2, arbitrary: hostileString.map((s) => `${s} `) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("localhost", "::1", "127.0.0.2", "127.1"),
  },
);

function port(real: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(real) },
    { weight: 1, arbitrary: boundaryNumber({ min: 1, max: 65535 }) },
  );
}

const handle = (own: Placeholder): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: junkHandle },
    { weight: 2, arbitrary: fc.constant(own) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Placeholder>(
        "REAL:bob-ssh",
        "REAL:pg",
        "REAL:ssh",
        "REAL:win",
      ),
    },
  );

/** The schema-driven arguments of one tool, with overrides that keep calls on loopback. */
function argumentsFor(
  tool: ToolName,
  schema: ToolInputSchema,
  targets: Targets,
): fc.Arbitrary<Record<string, unknown>> {
  switch (tool) {
    case "get_credential":
      return toolArguments(schema, {
        overrides: {
          safe: fc.oneof(fc.constant(SAFE), hostileString),
          object_name: fc.oneof(
            fc.constantFrom(...Object.values(ACCOUNTS)),
            hostileString,
          ),
        },
      });
    case "ssh_execute":
      return toolArguments(schema, {
        overrides: {
          host,
          port: port(targets.sshPort),
          secret_handle: handle("REAL:ssh"),
        },
      });
    case "ps_execute":
      return toolArguments(schema, {
        overrides: {
          host,
          port: port(targets.winrmPort),
          secret_handle: handle("REAL:win"),
        },
      });
    case "db_query":
      return toolArguments(schema, {
        overrides: {
          host,
          port: port(targets.pgPort),
          database: fc.oneof(
            { weight: 2, arbitrary: fc.constant(targets.pgDatabase) },
            { weight: 1, arbitrary: hostileString },
          ),
          secret_handle: handle("REAL:pg"),
        },
      });
  }
}

/** The text a real call runs, whatever was generated: a comment carries it. */
const COMMAND_PREFIX: Record<TargetTool, [string, string]> = {
  ssh_execute: ["command", "echo ok #"],
  ps_execute: ["script", "Write-Output ok #"],
  db_query: ["query", "SELECT 1 -- "],
};

/**
 * With a real handle, the generated command, script or query can only be a
 * comment after a harmless one, and the time limit at most 5 s: whatever
 * reaches sshd or PostgreSQL is known to be safe to run.
 */
function tame(
  tool: ToolName,
  args: Record<string, unknown>,
): Record<string, unknown> {
  if (tool === "get_credential" || !isPlaceholder(args.secret_handle)) {
    return args;
  }
  const [key, prefix] = COMMAND_PREFIX[tool];
  const tamed = { ...args };
  const text = tamed[key];
  if (typeof text === "string") {
    tamed[key] = prefix + text.replace(/[\r\n\u2028\u2029\u0085]/g, " ");
  }
  if (typeof tamed.timeout_seconds === "number" && tamed.timeout_seconds > 5) {
    tamed.timeout_seconds = 5;
  }
  return tamed;
}

/** Leaves out generated values that hold a stack pattern (echoes would match). */
function echoSafe<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arbitrary.filter((value) =>
    stackPattern(JSON.stringify(value) ?? "") === undefined
  );
}

/** One step of the interleaving property. */
type Action =
  | { kind: "ssh" }
  | { kind: "pg" }
  | { kind: "junk"; tool: TargetTool; handle: string }
  | { kind: "foreign"; tool: TargetTool }
  | { kind: "replay"; tool: TargetTool }
  | { kind: "wrong-tool" };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "ssh" } as const) },
  { weight: 3, arbitrary: fc.constant({ kind: "pg" } as const) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("junk" as const),
      tool: fc.constantFrom(...TARGET_TOOLS),
      handle: junkHandle.filter((h) => typeof h === "string"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("foreign" as const),
      tool: fc.constantFrom("ssh_execute" as const, "db_query" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("replay" as const),
      tool: fc.constantFrom("ssh_execute" as const, "db_query" as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "wrong-tool" } as const) },
);

Deno.test({
  name:
    "fuzz: tool calls with generated arguments and handles refuse what is wrong, run what is right, and leak nothing",
  ignore: sshSkip !== null || pgSkip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const target = await startFuzzTarget({ ssh: true, postgres: true });
  try {
    const schemas = await listSchemas(target);
    const sshd = target.sshd!;
    const postgres = target.postgres!;
    const targets: Targets = {
      sshPort: sshd.port,
      pgPort: postgres.port,
      pgDatabase: postgres.database,
      winrmPort: target.winrmPort,
    };
    const realCall = (kind: "ssh" | "pg", secretHandle: string) =>
      kind === "ssh"
        ? callTool(target, "alice", "ssh_execute", {
          host: sshd.host,
          port: sshd.port,
          command: "echo ok",
          secret_handle: secretHandle,
        })
        : callTool(target, "alice", "db_query", {
          host: postgres.host,
          port: postgres.port,
          database: postgres.database,
          db_type: "postgres",
          query: "SELECT 1",
          secret_handle: secretHandle,
        });
    const assertRan = (
      kind: "ssh" | "pg",
      outcome: { text: string; isError: boolean },
    ): void => {
      assertEquals(outcome.isError, false, outcome.text);
      assertMatch(
        outcome.text,
        kind === "ssh" ? /Exit code: 0[\s\S]*\bok\b/ : /Rows returned: 1/,
      );
    };

    await t.step("arguments from each tool's schema, mutated", async () => {
      const calls = fc.oneof(
        ...TOOLS.map((tool) =>
          argumentsFor(tool, schemas[tool], targets).map((args) => ({
            tool,
            args: tame(tool, args),
          }))
        ),
      );
      await checkProperty(
        "tool arguments",
        fc.asyncProperty(
          echoSafe(calls),
          ({ tool, args }) =>
            target.runCase(async () => {
              const placeholder = args.secret_handle;
              const sent = await withRealHandle(target, args);
              const outcome = await callTool(target, "alice", tool, sent);
              if (tool === "get_credential") {
                noteHandles(target, outcome.text);
                if (!outcome.isError) {
                  assert(
                    args.safe === SAFE &&
                      (Object.values(ACCOUNTS) as unknown[]).includes(
                        args.object_name,
                      ),
                    `a credential was served for ${JSON.stringify(args)}`,
                  );
                }
              } else if (!outcome.isError) {
                assert(
                  isPlaceholder(placeholder) &&
                    placeholder === OWN_HANDLE[tool as TargetTool],
                  `${tool} ran with a handle it must refuse (${
                    isPlaceholder(placeholder) ? placeholder : "junk"
                  }): ${outcome.text.slice(0, 300)}`,
                );
              }
            }),
        ),
        { defaultRuns: 1000, file: import.meta.url },
      );
    });

    await t.step(
      "a lone surrogate in one string argument is an input error naming it",
      async () => {
        const valid: Record<ToolName, Record<string, unknown>> = {
          get_credential: {
            safe: SAFE,
            object_name: ACCOUNTS.hostile,
            folder: "Root",
            reason: "fuzzing",
          },
          ssh_execute: {
            host: sshd.host,
            port: sshd.port,
            command: "echo ok",
            secret_handle: "REAL:ssh",
          },
          ps_execute: {
            host: "127.0.0.1",
            port: targets.winrmPort,
            script: "Write-Output ok",
            secret_handle: "REAL:win",
          },
          db_query: {
            host: postgres.host,
            port: postgres.port,
            database: postgres.database,
            db_type: "postgres",
            query: "SELECT 1",
            secret_handle: "REAL:pg",
          },
        };
        const cases = fc.oneof(
          ...TOOLS.flatMap((tool) =>
            Object.entries(valid[tool]).filter(([key, value]) =>
              typeof value === "string" && key !== "secret_handle"
            ).map(([key, value]) =>
              withLoneSurrogate(value as string).map((broken) => ({
                tool,
                argument: key,
                args: { ...valid[tool], [key]: broken },
              }))
            )
          ),
        );
        await checkProperty(
          "lone surrogates",
          fc.asyncProperty(
            cases,
            ({ tool, argument, args }) =>
              target.runCase(async () => {
                const outcome = await callTool(
                  target,
                  "alice",
                  tool,
                  await withRealHandle(target, args),
                );
                assertEquals(outcome.isError, true, outcome.text);
                assert(
                  outcome.text.includes(argument),
                  `the refusal does not name "${argument}": ${outcome.text}`,
                );
              }),
          ),
          { defaultRuns: 200, file: import.meta.url },
        );
      },
    );

    await t.step(
      "valid calls with fresh handles among junk, foreign and replayed ones",
      async () => {
        await checkProperty(
          "real handles among junk",
          fc.asyncProperty(
            echoSafe(fc.array(action, { minLength: 1, maxLength: 4 })),
            (actions) =>
              target.runCase(async () => {
                await Promise.all(actions.map(async (step) => {
                  switch (step.kind) {
                    case "ssh":
                    case "pg": {
                      const account = step.kind === "ssh"
                        ? ACCOUNTS.ssh
                        : ACCOUNTS.postgres;
                      const secretHandle = await freshHandle(
                        target,
                        "alice",
                        account,
                      );
                      assertRan(
                        step.kind,
                        await realCall(step.kind, secretHandle),
                      );
                      return;
                    }
                    case "junk": {
                      const outcome = await callTool(
                        target,
                        "alice",
                        step.tool,
                        {
                          ...valid(step.tool),
                          secret_handle: step.handle,
                        },
                      );
                      assertEquals(outcome.isError, true, outcome.text);
                      return;
                    }
                    case "foreign": {
                      // bob's handle: refused for alice, and still bob's to use.
                      const kind = step.tool === "ssh_execute" ? "ssh" : "pg";
                      const secretHandle = await freshHandle(
                        target,
                        "bob",
                        kind === "ssh" ? ACCOUNTS.ssh : ACCOUNTS.postgres,
                      );
                      const refused = await realCall(kind, secretHandle);
                      assertEquals(refused.isError, true, refused.text);
                      const args = kind === "ssh"
                        ? {
                          host: sshd.host,
                          port: sshd.port,
                          command: "echo ok",
                          secret_handle: secretHandle,
                        }
                        : {
                          host: postgres.host,
                          port: postgres.port,
                          database: postgres.database,
                          db_type: "postgres",
                          query: "SELECT 1",
                          secret_handle: secretHandle,
                        };
                      assertRan(
                        kind,
                        await callTool(target, "bob", step.tool, args),
                      );
                      return;
                    }
                    case "replay": {
                      const kind = step.tool === "ssh_execute" ? "ssh" : "pg";
                      const secretHandle = await freshHandle(
                        target,
                        "alice",
                        kind === "ssh" ? ACCOUNTS.ssh : ACCOUNTS.postgres,
                      );
                      assertRan(kind, await realCall(kind, secretHandle));
                      const again = await realCall(kind, secretHandle);
                      assertEquals(again.isError, true, again.text);
                      return;
                    }
                    case "wrong-tool": {
                      // An SSH handle offered to db_query: refused, unspent.
                      const secretHandle = await freshHandle(
                        target,
                        "alice",
                        ACCOUNTS.ssh,
                      );
                      const refused = await realCall("pg", secretHandle);
                      assertEquals(refused.isError, true, refused.text);
                      assertRan("ssh", await realCall("ssh", secretHandle));
                      return;
                    }
                  }
                }));
              }),
          ),
          { defaultRuns: 60, file: import.meta.url },
        );
      },
    );

    await target.finish();
  } finally {
    await target.stop();
  }

  /** A call of a target tool that is right but for its handle. */
  function valid(tool: TargetTool): Record<string, unknown> {
    const sshd = target.sshd!;
    const postgres = target.postgres!;
    switch (tool) {
      case "ssh_execute":
        return { host: sshd.host, port: sshd.port, command: "echo ok" };
      case "ps_execute":
        return {
          host: "127.0.0.1",
          port: target.winrmPort,
          script: "Write-Output ok",
        };
      case "db_query":
        return {
          host: postgres.host,
          port: postgres.port,
          database: postgres.database,
          db_type: "postgres",
          query: "SELECT 1",
        };
    }
  }
});
