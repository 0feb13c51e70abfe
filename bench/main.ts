/**
 * `deno task bench [N]`: every figure of the README's "Performance" section
 * in one run on this machine, as medians and p90 (ratios are printed, never
 * asserted). Needs root (sshd makes a user), the machine's PostgreSQL
 * (127.0.0.1:5432) and MariaDB (127.0.0.1:3306), `psql`, `mariadb` and `ssh`.
 *
 * 1. `SELECT 1` on PostgreSQL and MariaDB and SSH `true`, interleaved, N
 *    rounds: `db_query` / `ssh_execute` through the real gateway (`deno task
 *    start`) with the MCP SDK client, the handle issued 300 ms before the
 *    timed call, once with executor warming on and once on a second gateway
 *    with it off (cold); the same driver in this process (connect + query +
 *    close; ssh2 with TCP_NODELAY); the usual client as a whole process
 *    (`psql`, `mariadb`, OpenSSH `ssh` with a key in BatchMode).
 * 2. Executor start-up alone: the child's exact command line (the spawner's
 *    `executorArgs`) with an empty stdin, spawn to exit.
 * 3. `get_credential` through the gateway versus the same CCP request sent
 *    directly; then calls/s from 20 concurrent MCP clients.
 * 4. Memory: `VmRSS` of each gateway process after start-up and after the
 *    calls; a burst of 50 concurrent tool calls (peak RSS of the gateway and
 *    all its children, failed calls).
 *
 * @module
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import mysql from "mysql2/promise";
import pg from "pg";
import ssh2 from "ssh2";
import { spawnToExit } from "./child_startup.ts";
import { startCcpFixture } from "../tests/support/ccp_fixture.ts";
import {
  createMariadbFixture,
  createPostgresFixture,
  type DbFixture,
} from "../tests/support/databases.ts";
import {
  type GatewayProcess,
  PROJECT_ROOT,
  startGateway,
} from "../tests/support/gateway_process.ts";
import { connectMcp, resultText } from "../tests/support/mcp_client.ts";
import {
  sshdAccount,
  type SshdFixture,
  startSshd,
} from "../tests/support/sshd.ts";
import { TreeRssSampler, vmRssKb } from "./process_memory.ts";
import { quantile } from "./stats.ts";

const N = Number(Deno.args[0] ?? "30");
/** How long before the timed call its handle is issued (the issue's goal). */
const HANDLE_AGE_MS = 300;
const SAFE = "BENCH";

/** Whether this build knows `EXECUTOR_WARM_MAX` (warm executors). */
const warmingSupported = (await Deno.readTextFile(
  `${PROJECT_ROOT}gateway/config/env_schema.ts`,
)).includes("EXECUTOR_WARM_MAX");

// deno-lint-ignore no-console
const say = (line: string): void => console.log(line);
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
const mb = (kb: number): string => (kb / 1024).toFixed(1);

/** One gateway under test and its MCP sessions, one per endpoint. */
interface Gateway {
  readonly name: string;
  readonly process: GatewayProcess;
  readonly pid: number;
  readonly cyberark: Client;
  readonly database: Client;
  readonly ssh: Client;
  rssAfterStartKb: number;
}

// ---------------------------------------------------------------- fixtures

/** What to undo at the end, in reverse order, even after a failure. */
const cleanups: (() => Promise<void>)[] = [];
async function cleanUp(): Promise<void> {
  for (const undo of cleanups.reverse()) await undo().catch(() => {});
}

const postgres = await createPostgresFixture();
cleanups.push(() => postgres.drop());
const mariadb = await createMariadbFixture().catch(async (error) => {
  await cleanUp();
  throw error;
});
cleanups.push(() => mariadb.drop());
const sshd = await startSshd().catch(async (error) => {
  await cleanUp();
  throw error;
});
cleanups.push(() => sshd.stop());
const keyDir = await Deno.makeTempDir({ prefix: "mcp-bench-" });
cleanups.push(() => Deno.remove(keyDir, { recursive: true }));
const keyPath = `${keyDir}/id_ed25519`;
await Deno.writeTextFile(keyPath, sshd.privateKeyPem, { mode: 0o600 });
await Deno.chmod(keyPath, 0o600);
const ccp = await startCcpFixture(SAFE, [
  ...[postgres, mariadb].map((fx) => ({
    Name: fx.engine,
    Content: fx.password,
    UserName: fx.username,
    Address: fx.host,
    // Handles are scoped to a platform's protocol and port: warmable.
    PolicyID: fx.engine === "postgres" ? "PostgreSQL" : "MariaDB",
    Port: String(fx.port),
  })),
  sshdAccount(sshd, "ssh"),
]);
cleanups.push(() => ccp.close());

async function openGateway(
  name: string,
  env: Record<string, string>,
): Promise<Gateway> {
  const process = await startGateway({
    ...ccp.gatewayEnv,
    SSH_KNOWN_HOSTS: sshd.knownHostsPath,
    PG_SSLMODE: "disable",
    MYSQL_SSL: "disabled",
    LOG_LEVEL: "INFO",
    ...env,
  });
  const started = await process.waitFor((e) => e.event === "service_started");
  const url = (endpoint: string): string =>
    `${process.baseUrl}/mcp/${endpoint}`;
  return {
    name,
    process,
    pid: Number(started.pid),
    cyberark: await connectMcp(url("cyberark"), ccp.key),
    database: await connectMcp(url("database"), ccp.key),
    ssh: await connectMcp(url("ssh"), ccp.key),
    rssAfterStartKb: 0,
  };
}

const gateways: Gateway[] = [];
cleanups.push(async () => {
  for (const gateway of gateways) await closeGateway(gateway);
});
try {
  if (warmingSupported) {
    gateways.push(await openGateway("gateway, warm", {}));
  }
  gateways.push(
    await openGateway(
      warmingSupported ? "gateway, cold (warming off)" : "gateway (cold)",
      warmingSupported ? { EXECUTOR_WARM_MAX: "0" } : {},
    ),
  );
} catch (error) {
  await cleanUp();
  throw error;
}

async function closeGateway(gateway: Gateway): Promise<void> {
  for (const client of [gateway.cyberark, gateway.database, gateway.ssh]) {
    await client.close().catch(() => {});
  }
  await gateway.process.stop();
}

// ------------------------------------------------------------------- calls

type Account = "postgres" | "mysql" | "ssh";

async function issueHandle(
  gateway: Gateway,
  account: Account,
): Promise<string> {
  const result = await gateway.cyberark.callTool({
    name: "get_credential",
    arguments: { safe: SAFE, object_name: account },
  });
  const text = resultText(result);
  const match = /secret:\/\/[A-Za-z0-9_-]+/.exec(text);
  if (result.isError === true || match === null) {
    throw new Error(`get_credential failed: ${text.slice(0, 300)}`);
  }
  return match[0];
}

/** One tool call with a handle; throws unless it succeeded. */
async function useHandle(
  gateway: Gateway,
  account: Account,
  secretHandle: string,
): Promise<void> {
  const result = account === "ssh"
    ? await gateway.ssh.callTool({
      name: "ssh_execute",
      arguments: {
        host: sshd.host,
        port: sshd.port,
        command: "true",
        secret_handle: secretHandle,
      },
    })
    : await gateway.database.callTool({
      name: "db_query",
      arguments: dbArguments(
        account === "postgres" ? postgres : mariadb,
        secretHandle,
      ),
    });
  const text = resultText(result);
  const expected = account === "ssh" ? "Exit code: 0" : "Rows returned: 1";
  if (result.isError === true || !text.includes(expected)) {
    throw new Error(`${account} call failed: ${text.slice(0, 300)}`);
  }
}

function dbArguments(fx: DbFixture, secretHandle: string): object {
  return {
    host: fx.host,
    port: fx.port,
    database: fx.database,
    db_type: fx.engine,
    query: "SELECT 1",
    secret_handle: secretHandle,
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

// deno-lint-ignore no-explicit-any -- ssh2's types are not loaded
const { Client: SshClient } = ssh2 as any;
function sshInProcess(fixture: SshdFixture): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    client.on("ready", () => {
      client.exec("true", (error: Error | undefined, stream: {
        on: (event: string, f: () => void) => void;
        resume: () => void;
      }) => {
        if (error) return reject(error);
        stream.on("close", () => {
          client.end();
          resolve();
        });
        stream.resume();
      });
    });
    client.on("error", reject);
    client.on("connect", () => client.setNoDelay(true));
    client.connect({
      host: fixture.host,
      port: fixture.port,
      username: fixture.username,
      password: fixture.password,
      hostVerifier: () => true,
    });
  });
}

async function command(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<void> {
  const out = await new Deno.Command(name, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`${name}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const psql = (): Promise<void> =>
  command("psql", [
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

const mariadbClient = (): Promise<void> =>
  command("mariadb", [
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

const openssh = (): Promise<void> =>
  command("ssh", [
    "-F",
    "/dev/null",
    "-p",
    String(sshd.port),
    "-i",
    keyPath,
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${sshd.knownHostsPath}`,
    "-o",
    "StrictHostKeyChecking=yes",
    `${sshd.username}@${sshd.host}`,
    "true",
  ]);

// -------------------------------------------------------------- 1. latency

interface LatencyCase {
  readonly name: string;
  /** The gateway and account, for a case that needs a handle. */
  readonly gateway?: Gateway;
  readonly account?: Account;
  readonly run?: () => Promise<void>;
}

const gatewayCases = (account: Account): LatencyCase[] =>
  gateways.map((gateway) => ({ name: gateway.name, gateway, account }));

const groups: [string, LatencyCase[]][] = [
  ["PostgreSQL `SELECT 1`", [
    ...gatewayCases("postgres"),
    { name: "pg in-process (connect+query+close)", run: pgInProcess },
    { name: "`psql` process", run: psql },
  ]],
  ["MariaDB `SELECT 1`", [
    ...gatewayCases("mysql"),
    { name: "mysql2 in-process (connect+query+close)", run: mysqlInProcess },
    { name: "`mariadb` process", run: mariadbClient },
  ]],
  ["SSH `true`", [
    ...gatewayCases("ssh"),
    { name: "ssh2 in-process, TCP_NODELAY", run: () => sshInProcess(sshd) },
    { name: "OpenSSH `ssh` process (key, BatchMode)", run: openssh },
  ]],
];
const latency = new Map<LatencyCase, number[]>();
for (const [, cases] of groups) for (const c of cases) latency.set(c, []);

/**
 * One round: every case once, in a fixed order. A gateway case first gets a
 * handle and waits {@linkcode HANDLE_AGE_MS} (untimed), so that with the
 * default `EXECUTOR_WARM_MAX` its executor can be warm when the call comes.
 */
async function latencyRound(record: boolean): Promise<void> {
  for (const [c, samples] of latency) {
    let secretHandle: string | undefined;
    if (c.gateway !== undefined) {
      secretHandle = await issueHandle(c.gateway, c.account!);
      await sleep(HANDLE_AGE_MS);
    }
    const start = performance.now();
    if (secretHandle === undefined) await c.run!();
    else await useHandle(c.gateway!, c.account!, secretHandle);
    if (record) samples.push(performance.now() - start);
  }
}

// ------------------------------------------------------ 2. child start-up

const startupKinds = ["postgres", "mysql", "ssh"] as const;
const startup = new Map<string, number[]>(
  startupKinds.map((kind) => [kind, []]),
);

// ---------------------------------------------------- 3. get_credential

async function directCcp(): Promise<void> {
  const url = new URL(ccp.emulator.url);
  url.search = new URLSearchParams({
    AppID: ccp.gatewayEnv.CYBERARK_APP_ID!,
    Safe: SAFE,
    Folder: "Root",
    Object: "ssh",
  }).toString();
  const response = await fetch(url);
  const json = await response.json();
  if (typeof json.Content !== "string") throw new Error("no Content");
}

/** get_credential calls/s from `clients` MCP sessions for `seconds`. */
async function throughput(
  gateway: Gateway,
  clients: number,
  seconds: number,
): Promise<{ perSecond: number; failed: number }> {
  const sessions: Client[] = await Promise.all(
    Array.from(
      { length: clients },
      () => connectMcp(`${gateway.process.baseUrl}/mcp/cyberark`, ccp.key),
    ),
  );
  let done = 0;
  let failed = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(sessions.map(async (session) => {
    while (performance.now() < end) {
      try {
        const result = await session.callTool({
          name: "get_credential",
          arguments: { safe: SAFE, object_name: "ssh" },
        });
        if (result.isError === true) failed++;
        else done++;
      } catch {
        failed++;
      }
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(sessions.map((s) => s.close().catch(() => {})));
  return { perSecond: done / elapsed, failed };
}

// ----------------------------------------------------------- 4. the burst

interface BurstResult {
  readonly peakTreeKb: number;
  readonly peakGatewayKb: number;
  readonly processes: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly wallMs: number;
}

/** 50 handles issued, then 50 concurrent calls with them (17 pg, 17 MariaDB, 16 SSH). */
async function burst(gateway: Gateway, size = 50): Promise<BurstResult> {
  const accounts: Account[] = Array.from(
    { length: size },
    (_, i) => (["postgres", "mysql", "ssh"] as const)[i % 3]!,
  );
  const handles: string[] = [];
  for (const account of accounts) {
    handles.push(await issueHandle(gateway, account));
  }
  await sleep(HANDLE_AGE_MS);
  const sampler = new TreeRssSampler(gateway.pid, 10);
  let failed = 0;
  let firstError: string | null = null;
  const start = performance.now();
  await Promise.all(accounts.map(async (account, i) => {
    try {
      await useHandle(gateway, account, handles[i]!);
    } catch (error) {
      failed++;
      firstError ??= String(error).slice(0, 200);
    }
  }));
  const wallMs = performance.now() - start;
  const peak = sampler.stop();
  return {
    peakTreeKb: peak.treeKb,
    peakGatewayKb: peak.rootKb,
    processes: peak.processes,
    failed,
    firstError,
    wallMs,
  };
}

// -------------------------------------------------------------------- run

function row(name: string, samples: number[]): string {
  return `| ${name} | ${quantile(samples, 0.5).toFixed(1)} | ${
    quantile(samples, 0.9).toFixed(1)
  } |`;
}

try {
  await sleep(1000);
  for (const gateway of gateways) {
    gateway.rssAfterStartKb = vmRssKb(gateway.pid);
  }

  say(`# deno task bench: N=${N}, ${new Date().toISOString()}`);
  say(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ${
      warmingSupported ? "warming on and off" : "no warm executors"
    }\n`,
  );

  for (let i = 0; i < 3; i++) await latencyRound(false);
  for (let i = 0; i < N; i++) await latencyRound(true);

  say("## Latency (ms; interleaved rounds, handles issued 300 ms before)\n");
  say("| operation | path | median | p90 |");
  say("|---|---|---|---|");
  for (const [group, cases] of groups) {
    for (const c of cases) {
      const samples = latency.get(c)!;
      say(`| ${group} ${row(c.name, samples)}`);
    }
  }

  for (const kind of startupKinds) await spawnToExit(kind);
  for (let i = 0; i < N; i++) {
    for (const kind of startupKinds) {
      startup.get(kind)!.push(await spawnToExit(kind));
    }
  }
  say("\n## Executor start-up alone (spawn to exit, empty stdin; ms)\n");
  say("| executor | median | p90 |");
  say("|---|---|---|");
  for (const [kind, samples] of startup) say(row(kind, samples));

  const credential = new Map<string, number[]>();
  const credentialCases: [string, () => Promise<void>][] = [
    ...gateways.map((g) =>
      [
        `get_credential via ${g.name}`,
        async () => void await issueHandle(g, "ssh"),
      ] as [string, () => Promise<void>]
    ),
    ["direct CCP GET (same request)", directCcp],
  ];
  for (const [name] of credentialCases) credential.set(name, []);
  for (let i = 0; i < 10; i++) {
    for (const [, run] of credentialCases) await run();
  }
  for (let i = 0; i < N * 5; i++) {
    for (const [name, run] of credentialCases) {
      const start = performance.now();
      await run();
      credential.get(name)!.push(performance.now() - start);
    }
  }
  say("\n## get_credential (ms)\n");
  say("| case | median | p90 |");
  say("|---|---|---|");
  for (const [name, samples] of credential) say(row(name, samples));

  await sleep(2000);
  say("\n## Gateway memory (VmRSS of the gateway process, MB)\n");
  say("| gateway | after start | after the calls above |");
  say("|---|---|---|");
  for (const gateway of gateways) {
    say(
      `| ${gateway.name} | ${mb(gateway.rssAfterStartKb)} | ${
        mb(vmRssKb(gateway.pid))
      } |`,
    );
  }

  say("\n## get_credential throughput (20 concurrent MCP clients, 3 s)\n");
  say("| gateway | calls/s | failed |");
  say("|---|---|---|");
  for (const gateway of gateways) {
    const { perSecond, failed } = await throughput(gateway, 20, 3);
    say(`| ${gateway.name} | ${perSecond.toFixed(0)} | ${failed} |`);
    await sleep(1000);
  }

  say("\n## Burst: 50 concurrent tool calls (17 pg, 17 MariaDB, 16 SSH)\n");
  say(
    "| gateway | peak RSS gateway + children (MB) | peak gateway (MB) | processes | failed | wall (ms) |",
  );
  say("|---|---|---|---|---|---|");
  for (const gateway of gateways) {
    const result = await burst(gateway);
    say(
      `| ${gateway.name} | ${mb(result.peakTreeKb)} | ${
        mb(result.peakGatewayKb)
      } | ${result.processes} | ${result.failed} | ${
        result.wallMs.toFixed(0)
      } |`,
    );
    if (result.firstError !== null) say(`first failure: ${result.firstError}`);
    await sleep(1000);
  }
} finally {
  await cleanUp();
}
