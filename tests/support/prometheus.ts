/**
 * A real Prometheus server (Debian's `prometheus` package) for end-to-end
 * tests: its own configuration scraping the given targets every second,
 * its own storage in a temporary directory, its own port on loopback; and
 * `promtool check metrics` on a scrape. The package's own daemon (if its
 * post-install started one) is never touched: only the process started
 * here is stopped.
 *
 * @module
 */
import { type Daemon, spawnDaemon, waitForPort } from "./daemon.ts";
import { eventually } from "./eventually.ts";
import { freePort } from "./free_port.ts";
import { announcePromtoolSkip, PROMTOOL } from "./promtool.ts";
import { announceSkip, missingToolReason } from "./skip.ts";

/** Debian's Prometheus server binary. */
export const PROMETHEUS = "/usr/bin/prometheus";

let checked: Promise<string | null> | undefined;

/**
 * Prints why a Prometheus test cannot run here (or nothing) and returns
 * it, for `Deno.test({ ignore })`; installs the package when `CI` is set.
 */
export function announcePrometheusSkip(): Promise<string | null> {
  checked ??= (async () => {
    const server = await announceSkip(missingToolReason(PROMETHEUS, {
      aptPackage: "prometheus",
      suite: "Prometheus",
    }));
    return server ?? await announcePromtoolSkip();
  })();
  return checked;
}

/** One series of a query's answer: its labels and its value. */
export interface QuerySample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A running Prometheus server. */
export interface PrometheusFixture {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Runs an instant PromQL query through the HTTP API (`/api/v1/query`). */
  query(promql: string): Promise<QuerySample[]>;
  /** Everything the server wrote, for a failed test's message. */
  log(): string;
  /** Stops the server and removes its configuration and storage. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startPrometheus}. */
export interface StartPrometheusOptions {
  /** The job name of the scrape configuration. */
  readonly job: string;
  /** `host:port` of each target, scraped at `/metrics` every second. */
  readonly targets: readonly string[];
}

/** Starts Prometheus scraping `targets` every second; waits until it is ready. */
export async function startPrometheus(
  options: StartPrometheusOptions,
): Promise<PrometheusFixture> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-prometheus-" });
  const config = `${dir}/prometheus.yml`;
  await Deno.writeTextFile(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      `  - job_name: ${JSON.stringify(options.job)}`,
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: ${JSON.stringify(options.targets)}`,
      "",
    ].join("\n"),
  );
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const output: string[] = [];
  const daemon: Daemon = spawnDaemon(PROMETHEUS, {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const pumps = Promise.all(
    [daemon.child.stdout, daemon.child.stderr].map(async (stream) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        output.push(chunk);
      }
    }),
  );
  const log = (): string => output.join("");
  const stop = async (): Promise<void> => {
    await daemon.stop();
    await pumps;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitForPort(daemon, port, {
      name: "prometheus",
      log: () => Promise.resolve(log()),
    });
    await eventually(async () => {
      const response = await fetch(`${url}/-/ready`);
      await response.body?.cancel();
      if (response.status !== 200) {
        throw new Error(`Prometheus not ready (HTTP ${response.status})`);
      }
    }, { timeoutMs: 30_000, signal: daemon.exitSignal });
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; Prometheus said: ${log()}`);
  }
  return {
    url,
    query: async (promql) => {
      const response = await fetch(
        `${url}/api/v1/query?${new URLSearchParams({ query: promql })}`,
      );
      const body = await response.json();
      if (body.status !== "success") {
        throw new Error(`Query ${promql} failed: ${JSON.stringify(body)}`);
      }
      return (body.data.result as {
        metric: Record<string, string>;
        value: [number, string];
      }[]).map((series) => ({
        metric: series.metric,
        value: Number(series.value[1]),
      }));
    },
    log,
    stop,
  };
}

/** What `promtool check metrics` said about a scrape. */
export interface MetricsLint {
  readonly code: number;
  /** stdout and stderr together: empty when nothing is wrong. */
  readonly output: string;
}

/** Runs `promtool check metrics` with `text` (a raw scrape) on its stdin. */
export async function checkMetricsText(text: string): Promise<MetricsLint> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return {
    code,
    output: (decoder.decode(stdout) + decoder.decode(stderr)).trim(),
  };
}
