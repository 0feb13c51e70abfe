/**
 * `SELECT 1` through db_query (MCP tools/call over HTTP to the real gateway,
 * one sandboxed executor per call) versus the same driver in-process
 * (connect + query + close) versus the `psql` / `mariadb` clients as whole
 * processes, against the machine's PostgreSQL and MariaDB, interleaved in
 * one run. Also the executor alone (spawner, no HTTP/MCP), to split the cost.
 * Prints medians and p90 in ms.
 *
 *   deno run -A bench/db_bench.ts [N]
 *
 * Each db_query call gets a fresh single-use handle first (not timed).
 * PostgreSQL trusts local logins here, so its cases include no SCRAM
 * exchange; MariaDB checks the password (mysql_native_password).
 *
 * @module
 */
import mysql from "mysql2/promise";
import pg from "pg";
import { ExecutorSpawner } from "../executors/spawner/mod.ts";
import {
  createMariadbFixture,
  createPostgresFixture,
  type DbFixture,
} from "../tests/support/databases.ts";
import { startCcpFixture } from "../tests/support/ccp_fixture.ts";
import { startGateway } from "../tests/support/gateway_process.ts";
import { postJsonRpc } from "../tests/support/mcp_client.ts";
import { summarize } from "./stats.ts";

const n = Number(Deno.args[0] ?? "30");
const postgres = await createPostgresFixture();
const mariadb = await createMariadbFixture().catch(async (error) => {
  await postgres.drop();
  throw error;
});
const ccp = await startCcpFixture(
  "DB",
  [postgres, mariadb].map((fx) => ({
    Name: fx.engine,
    Content: fx.password,
    UserName: fx.username,
    Address: fx.host,
    // Handles are scoped to a platform's protocol and ports.
    PolicyID: fx.engine === "postgres" ? "PostgreSQL" : "MariaDB",
    Port: String(fx.port),
  })),
);
const gateway = await startGateway({
  ...ccp.gatewayEnv,
  LOG_LEVEL: "INFO",
  PG_SSLMODE: "disable",
  MYSQL_SSL: "disabled",
});
const spawner = new ExecutorSpawner({});

async function mcp(
  endpoint: string,
  name: string,
  args: object,
): Promise<string> {
  const response = await postJsonRpc(
    `${gateway.baseUrl}/mcp/${endpoint}`,
    "tools/call",
    { headers: { "X-API-Key": ccp.key }, params: { name, arguments: args } },
  );
  return await response.text();
}

async function handle(fx: DbFixture): Promise<string> {
  const text = await mcp("cyberark", "get_credential", {
    safe: "DB",
    object_name: fx.engine,
  });
  const match = /secret:\/\/[A-Za-z0-9_-]+/.exec(text);
  if (match === null) throw new Error(`no handle: ${text.slice(0, 200)}`);
  return match[0];
}

function viaGateway(fx: DbFixture): (h: string) => Promise<void> {
  return async (secretHandle) => {
    const text = await mcp("database", "db_query", {
      host: fx.host,
      port: fx.port,
      database: fx.database,
      db_type: fx.engine,
      query: "SELECT 1",
      secret_handle: secretHandle,
    });
    if (!text.includes("Rows returned: 1")) {
      throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
    }
  };
}

function viaSpawner(fx: DbFixture): () => Promise<void> {
  return async () => {
    const common = {
      database: fx.database,
      query: "SELECT 1",
      maxRows: 1000,
      maxCellChars: 2000,
      readOnly: false,
    };
    const outcome = await spawner.run({
      target: { host: fx.host, port: fx.port },
      credential: {
        username: fx.username,
        kind: "password",
        secret: { reveal: () => fx.password },
      },
      operation: fx.engine === "postgres"
        ? { kind: "postgres", ...common, tls: { sslmode: "disable" } }
        : { kind: "mysql", ...common, tls: { mode: "disabled" } },
    });
    if (!outcome.ok) throw new Error(outcome.error.message);
  };
}

async function pgInProcess(): Promise<void> {
  const client = new pg.Client({
    host: postgres.host,
    port: postgres.port,
    user: postgres.username,
    password: postgres.password,
    database: postgres.database,
  });
  await client.connect();
  await client.query("SELECT 1");
  await client.end();
}

async function mysqlInProcess(): Promise<void> {
  const connection = await mysql.createConnection({
    host: mariadb.host,
    port: mariadb.port,
    user: mariadb.username,
    password: mariadb.password,
    database: mariadb.database,
    disableEval: true,
  });
  await connection.query("SELECT 1");
  await connection.end();
}

async function cli(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<void> {
  const out = await new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`${command}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const psql = (): Promise<void> =>
  cli("psql", [
    "-h",
    postgres.host,
    "-p",
    String(postgres.port),
    "-U",
    postgres.username,
    "-d",
    postgres.database,
    "-XAtqc",
    "SELECT 1",
  ], { PGPASSWORD: postgres.password });

const mariadbCli = (): Promise<void> =>
  cli("mariadb", [
    "--no-defaults",
    "-h",
    mariadb.host,
    "-P",
    String(mariadb.port),
    "-u",
    mariadb.username,
    mariadb.database,
    "-Nse",
    "SELECT 1",
  ], { MYSQL_PWD: mariadb.password });

/** Each case: name, an untimed preparation, the timed call. */
type Case = [
  string,
  () => Promise<string | null>,
  (prep: string) => Promise<void>,
];
const none = (): Promise<null> => Promise.resolve(null);
const cases: Case[] = [
  [
    "postgres: db_query via gateway (MCP/HTTP + executor)",
    () => handle(postgres),
    viaGateway(postgres),
  ],
  ["postgres: executor via spawner (no HTTP/MCP)", none, viaSpawner(postgres)],
  ["postgres: pg in-process (connect+query+close)", none, pgInProcess],
  ["postgres: psql process", none, psql],
  [
    "mariadb: db_query via gateway (MCP/HTTP + executor)",
    () => handle(mariadb),
    viaGateway(mariadb),
  ],
  ["mariadb: executor via spawner (no HTTP/MCP)", none, viaSpawner(mariadb)],
  ["mariadb: mysql2 in-process (connect+query+close)", none, mysqlInProcess],
  ["mariadb: mariadb client process", none, mariadbCli],
];

const samples: Record<string, number[]> = Object.fromEntries(
  cases.map(([name]) => [name, []]),
);
try {
  for (const [, prepare, run] of cases) {
    for (let i = 0; i < 3; i++) await run((await prepare()) ?? ""); // warm-up
  }
  for (let i = 0; i < n; i++) {
    for (const [name, prepare, run] of cases) {
      const prep = (await prepare()) ?? "";
      const start = performance.now();
      await run(prep);
      samples[name]!.push(performance.now() - start);
    }
  }
} finally {
  await gateway.stop();
  await ccp.close();
  await postgres.drop();
  await mariadb.drop();
}
// deno-lint-ignore no-console
console.log(summarize(samples, n));
