/**
 * `deno task soak [--clients N] [--minutes M]`: a mixed load on the real
 * gateway (`deno task start`) with the CCP emulator and a PostgreSQL login
 * of its own on the machine's server (127.0.0.1:5432), from N clients
 * (default 20) for M minutes (default 10; fractions allowed).
 *
 * Each client loops over: `get_credential` (60%), `get_credential` then
 * `db_query SELECT 1` with the handle (25%), and a bad request (15%: a
 * wrong API key from an address of its own, malformed JSON, an unknown
 * handle, junk arguments), which must be refused.
 *
 * Every 10 s it prints the gateway's RSS (`VmRSS`), the requests so far,
 * the rate of unexpected errors (refusals of the bad requests are counted
 * apart), and p50/p99 latency of the window; at the end the totals,
 * p50/p99 overall, RSS first/last/max, the gateway's log lines (all must
 * be JSON, none may hold the password), and the executor processes still
 * alive once warm ones have had the handle TTL to end: it exits 1 unless
 * that is 0 and no unexpected error happened. No figure is asserted.
 *
 * @module
 */
import { startCcpFixture } from "../tests/support/ccp_fixture.ts";
import {
  createPostgresFixture,
  postgresSkipReason,
} from "../tests/support/databases.ts";
import { freePort } from "../tests/support/free_port.ts";
import { startGateway } from "../tests/support/gateway_process.ts";
import { processTree, vmRssKb } from "./process_memory.ts";
import {
  badRequest,
  dbQuery,
  getCredential,
  type RequestKind,
  type Sample,
  type SoakTarget,
} from "./soak_requests.ts";
import { quantile } from "./stats.ts";

// deno-lint-ignore no-console
const say = (line: string): void => console.log(line);

/** The soak's settings from the command line. */
interface SoakOptions {
  clients: number;
  minutes: number;
}

function parseOptions(args: readonly string[]): SoakOptions {
  const options: SoakOptions = { clients: 20, minutes: 10 };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = Number(args[i + 1]);
    if (flag === "--clients" && Number.isInteger(value) && value >= 1) {
      options.clients = value;
    } else if (flag === "--minutes" && value > 0) {
      options.minutes = value;
    } else {
      throw new Error(
        `Cannot read the arguments "${
          args.join(" ")
        }": use deno task soak [--clients N] [--minutes M], N a whole number from 1, M minutes above 0 (e.g. 0.5)`,
      );
    }
    i++;
  }
  return options;
}

const WINDOW_MS = 10_000;
/** The handle TTL of the soak's gateway: how long a warm executor may wait. */
const HANDLE_TTL_SECONDS = 30;
const SAFE = "SOAK";
const ACCOUNT = "pg-login";

const options = parseOptions(Deno.args);
const skip = await postgresSkipReason();
if (skip !== null) throw new Error(`Cannot run the soak: ${skip}`);

const cleanups: (() => Promise<void>)[] = [];
async function cleanUp(): Promise<void> {
  for (const undo of cleanups.reverse()) await undo().catch(() => {});
}

let exitCode = 0;
try {
  exitCode = await soak();
} finally {
  await cleanUp();
}
Deno.exit(exitCode);

async function soak(): Promise<number> {
  const postgres = await createPostgresFixture();
  cleanups.push(() => postgres.drop());
  const ccp = await startCcpFixture(SAFE, [{
    Name: ACCOUNT,
    Content: postgres.password,
    UserName: postgres.username,
    Address: postgres.host,
    PolicyID: "PostgreSQL",
    Port: String(postgres.port),
  }]);
  cleanups.push(() => ccp.close());
  const metricsPort = freePort();
  const gateway = await startGateway({
    ...ccp.gatewayEnv,
    PG_SSLMODE: "disable",
    LOG_LEVEL: "info",
    HANDLE_TTL_SECONDS: String(HANDLE_TTL_SECONDS),
    // Wrong keys come "through" the loopback proxy from addresses of their
    // own, so that the failed-authentication limit leaves the others be.
    TRUSTED_PROXIES: "127.0.0.1",
    // The V8 heap beside the RSS: tells a growing heap from allocator slack.
    METRICS_PORT: String(metricsPort),
  });
  cleanups.push(() => gateway.stop());
  const target: SoakTarget = {
    baseUrl: gateway.baseUrl,
    apiKey: ccp.key,
    safe: SAFE,
    account: ACCOUNT,
    db: {
      host: postgres.host,
      port: postgres.port,
      database: postgres.database,
    },
  };

  say(
    `# deno task soak: ${options.clients} clients, ${options.minutes} min, ${
      new Date().toISOString()
    }`,
  );
  say(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs; mix: get_credential 60%, get_credential + db_query 25%, bad requests 15%`,
  );
  say(
    "elapsed | gateway RSS | V8 heap | requests | unexpected errors | refused | p50 / p99 (window)",
  );

  // ------------------------------------------------------------ the load
  let window: Sample[] = [];
  const all: number[] = [];
  const totals = { ok: 0, refused: 0, error: 0 };
  const byKind = new Map<RequestKind, number[]>();
  const firstErrors: string[] = [];
  const record = (sample: Sample): void => {
    window.push(sample);
    all.push(sample.ms);
    totals[sample.outcome]++;
    const times = byKind.get(sample.kind) ?? [];
    times.push(sample.ms);
    byKind.set(sample.kind, times);
    if (sample.outcome === "error" && firstErrors.length < 5) {
      firstErrors.push(`${sample.kind}: ${sample.detail ?? ""}`);
    }
  };

  // The gateway's output, checked and dropped every window (a long soak
  // would otherwise keep every line in this process).
  const logs = { lines: 0, notJson: 0, leaks: 0, firstNotJson: "" };
  const drainLogs = (): void => {
    const lines = gateway.lines.splice(0);
    for (const line of lines) {
      logs.lines++;
      if (line.includes(postgres.password)) logs.leaks++;
      try {
        JSON.parse(line);
      } catch {
        logs.notJson++;
        logs.firstNotJson ||= line.slice(0, 200);
      }
    }
  };

  const started = performance.now();
  const endAt = started + options.minutes * 60_000;
  let stopped = false;
  const stopEarly = (): void => {
    stopped = true;
  };
  Deno.addSignalListener("SIGINT", stopEarly);
  const running = (): boolean => !stopped && performance.now() < endAt;

  const client = async (): Promise<void> => {
    while (running()) {
      const roll = Math.random();
      if (roll < 0.6) {
        record((await getCredential(target)).sample);
      } else if (roll < 0.85) {
        const { sample, handle } = await getCredential(target);
        record(sample);
        if (handle !== undefined) record(await dbQuery(target, handle));
      } else {
        record(await badRequest(target));
      }
    }
  };

  const rss: number[] = [vmRssKb(gateway.pid)];
  const heaps: number[] = [];
  const report = async (): Promise<void> => {
    drainLogs();
    const kb = vmRssKb(gateway.pid);
    rss.push(kb);
    const heap = await heapUsedMb(metricsPort);
    if (heap !== null) heaps.push(heap);
    const samples = window;
    window = [];
    const errors = samples.filter((s) => s.outcome === "error").length;
    const refused = samples.filter((s) => s.outcome === "refused").length;
    const ms = samples.map((s) => s.ms);
    const done = totals.ok + totals.refused + totals.error;
    say(
      `${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s | ${
        mb(kb)
      } MB | ${
        heap === null ? "?" : heap.toFixed(1)
      } MB | ${done} (+${samples.length}) | ${
        percent(errors, samples.length)
      } (${errors}) | ${refused} | ${fmt(quantile(ms, 0.5))} / ${
        fmt(quantile(ms, 0.99))
      } ms`,
    );
  };
  const timer = setInterval(() => void report(), WINDOW_MS);
  await Promise.all(Array.from({ length: options.clients }, client));
  clearInterval(timer);
  Deno.removeSignalListener("SIGINT", stopEarly);
  await report();

  // ----------------------------------------------------------- the end
  // Warm executors of handles never used end with the handle's TTL.
  const deadline = performance.now() + (HANDLE_TTL_SECONDS + 15) * 1000;
  let executors = processTree(gateway.pid).length - 1;
  while (executors > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    executors = processTree(gateway.pid).length - 1;
  }
  drainLogs();
  const done = totals.ok + totals.refused + totals.error;
  const seconds = (performance.now() - started) / 1000;
  say("");
  say(
    `requests: ${done} in ${seconds.toFixed(0)} s (${
      (done / seconds).toFixed(0)
    }/s): ${totals.ok} ok, ${totals.refused} refused as expected, ${totals.error} unexpected errors (${
      percent(totals.error, done)
    })`,
  );
  say("by kind (requests, p50 / p99 ms):");
  for (const [kind, times] of [...byKind].sort()) {
    say(
      `  ${kind}: ${times.length}, ${fmt(quantile(times, 0.5))} / ${
        fmt(quantile(times, 0.99))
      }`,
    );
  }
  say(
    `latency overall: p50 ${fmt(quantile(all, 0.5))} ms, p99 ${
      fmt(quantile(all, 0.99))
    } ms`,
  );
  say(
    `gateway RSS: first ${mb(rss[0]!)} MB, last ${mb(rss.at(-1)!)} MB, max ${
      mb(Math.max(...rss))
    } MB; V8 heap in use: first ${fmtMb(heaps[0])}, last ${
      fmtMb(heaps.at(-1))
    }, max ${fmtMb(heaps.length === 0 ? undefined : Math.max(...heaps))}`,
  );
  say(
    `gateway log: ${logs.lines} lines, ${logs.notJson} not JSON${
      logs.firstNotJson === "" ? "" : ` (first: ${logs.firstNotJson})`
    }, ${logs.leaks} holding the password`,
  );
  for (const error of firstErrors) say(`unexpected: ${error}`);
  say(
    `executor processes still alive: ${executors} (after up to ${
      HANDLE_TTL_SECONDS + 15
    } s for warm ones to end)`,
  );
  return executors === 0 && totals.error === 0 && logs.notJson === 0 &&
      logs.leaks === 0
    ? 0
    : 1;
}

function mb(kb: number): string {
  return (kb / 1024).toFixed(1);
}

function fmt(ms: number): string {
  return Number.isNaN(ms) ? "-" : ms.toFixed(1);
}

function percent(part: number, whole: number): string {
  return `${whole === 0 ? "0.00" : ((100 * part) / whole).toFixed(2)}%`;
}

/** `mcp_privileged_heap_used_bytes` from the gateway's metrics (MB), or null. */
async function heapUsedMb(port: number): Promise<number | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await response.text();
    const match = /^mcp_privileged_heap_used_bytes (\S+)$/m.exec(text);
    return match === null ? null : Number(match[1]) / 1024 / 1024;
  } catch {
    return null;
  }
}

function fmtMb(value: number | undefined): string {
  return value === undefined ? "?" : `${value.toFixed(1)} MB`;
}
