/**
 * The deployment files agree with the code: the Dockerfile's CMD and the
 * systemd unit run the flags of `deno task start`; the image is pinned and
 * caches every executor; the unit passes `systemd-analyze verify`; the nginx
 * site passes `nginx -t`; compose runs the service read-only.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { PROJECT_ROOT } from "../support/gateway_process.ts";
import {
  announceNginxSkip,
  testNginxConfig,
  writeNginxPrefix,
} from "../support/nginx.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import { EXECUTORS } from "../../executors/spawner/mod.ts";
import { freePort } from "../support/free_port.ts";
import { loadConfig } from "../../gateway/config/mod.ts";
import {
  checkConnectionLimits,
  fileLimitFacts,
} from "../../gateway/doctor/mod.ts";
import {
  BASE_FDS,
  FDS_PER_CONNECTION,
  FDS_PER_EXECUTOR,
  neededFileDescriptors,
} from "../../gateway/http/connection_guard/mod.ts";

const DENO = "<deno>";
const read = (path: string): Promise<string> =>
  Deno.readTextFile(`${PROJECT_ROOT}${path}`);

/** `deno task start`'s command as tokens, its `$(deno eval ...)` as `<deno>`. */
async function startTaskTokens(): Promise<string[]> {
  const json = JSON.parse(await read("deno.json")) as {
    tasks: Record<string, string | { command: string }>;
  };
  const start = json.tasks.start;
  const command = typeof start === "string" ? start : start!.command;
  return command.replace(
    "$(deno eval --quiet 'console.log(Deno.execPath())')",
    DENO,
  ).split(/\s+/);
}

function dockerfileJson(text: string, prefix: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  assert(line !== undefined, `no line starting with ${prefix}`);
  return JSON.parse(line.slice(line.indexOf("["))) as string[];
}

Deno.test("the Dockerfile's CMD runs the flags of deno task start", async () => {
  const cmd = dockerfileJson(await read("Dockerfile"), "CMD [");
  assertEquals(
    cmd.map((arg) =>
      arg.replace("--allow-run=/usr/bin/deno", `--allow-run=${DENO}`)
    ),
    await startTaskTokens(),
  );
});

Deno.test("the systemd unit's ExecStart runs the flags of deno task start", async () => {
  const unit = await read("deploy/mcp-privileged.service");
  const exec = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  assert(exec !== undefined);
  const tokens = exec.slice("ExecStart=".length).split(/\s+/).map((arg) =>
    arg === "/usr/local/bin/deno"
      ? "deno"
      : arg === "--allow-run=/usr/local/bin/deno"
      ? `--allow-run=${DENO}`
      : arg === "/opt/mcp-privileged/main.ts"
      ? "main.ts"
      : arg
  );
  assertEquals(tokens, await startTaskTokens());
});

Deno.test("the Dockerfile pins the Deno image by digest, caches every executor and runs as mcpuser", async () => {
  const text = await read("Dockerfile");
  const ci = await read(".ci/run");
  const version = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  // The base is an ARG whose default is the pinned official image, so that
  // a build without Docker Hub can name a local equivalent instead.
  assertMatch(
    text,
    new RegExp(
      `^ARG BASE_IMAGE=denoland/deno:debian-${
        version!.replaceAll(".", "\\.")
      }@sha256:[0-9a-f]{64}$`,
      "m",
    ),
  );
  assertEquals(
    text.split("\n").filter((l) => l.startsWith("FROM ")),
    ["FROM ${BASE_IMAGE}"],
  );
  assertMatch(
    text,
    /deno install --frozen-lockfile --entrypoint main\.ts executors\/children\/\*_executor\.ts \\\n\s+scripts\/doctor\.ts emulator\/main\.ts/,
  );
  // The glob above must cover every executor module the spawner can start.
  for (const [kind, spec] of Object.entries(EXECUTORS)) {
    assertMatch(spec.module, /^\.\.\/children\/[a-z0-9_]+_executor\.ts$/, kind);
  }
  assertMatch(text, /^USER mcpuser$/m);
  assertMatch(text, /^EXPOSE 8443$/m);
  const health = dockerfileJson(text, '  CMD ["deno", "eval"');
  assertEquals(health.slice(0, 2), ["deno", "eval"]);
  assert(health[2]!.includes("/health"));
});

Deno.test("compose runs the service read-only from .env with the Dockerfile's health check", async () => {
  const compose = await read("docker-compose.yml");
  const service = compose.split(/\n {2}(?=[a-z-]+:\n)/).find((s) =>
    s.startsWith("mcp-privileged:")
  );
  assert(service !== undefined, "no mcp-privileged service");
  assertMatch(service, /\n {4}env_file: \.env\n/);
  assertMatch(service, /\n {4}read_only: true\n/);
  assertMatch(service, /\n {4}tmpfs:\n {6}- \/tmp\n/);
  assertMatch(service, /\n {6}- "8443:8443"\n/);
  const health = dockerfileJson(
    await read("Dockerfile"),
    '  CMD ["deno", "eval"',
  );
  assert(
    service.includes(`- "${health[2]}"`),
    "compose's health check differs from the Dockerfile's",
  );
  for (const db of ["postgres", "mysql", "mssql", "ccp-emulator"]) {
    assertMatch(
      compose,
      new RegExp(`\\n {2}${db}:\\n {4}profiles: \\[[^\\]]*"db"`),
    );
  }
  assertMatch(compose, /- emulator\/demo_accounts\.json\n/);
  await Deno.stat(`${PROJECT_ROOT}emulator/demo_accounts.json`);
});

Deno.test("the systemd unit keeps the manual's hardening and reads .env itself", async () => {
  const unit = await read("deploy/mcp-privileged.service");
  for (
    const line of [
      "User=mcpuser",
      "NoNewPrivileges=yes",
      "PrivateTmp=yes",
      "ProtectSystem=strict",
      "CapabilityBoundingSet=",
      "Environment=ENV_FILE=/opt/mcp-privileged/.env",
      "Environment=DENO_DIR=/opt/mcp-privileged/deno-dir",
      "RestartPreventExitStatus=2",
    ]
  ) {
    assert(unit.split("\n").includes(line), `missing: ${line}`);
  }
  assert(!/^ReadWritePaths=/m.test(unit), "the service needs no writable path");
  assert(!/^MemoryDenyWriteExecute=yes/m.test(unit), "V8 needs W+X memory");
});

/** `SHUTDOWN_GRACE_SECONDS` of a configuration that does not set it. */
function defaultShutdownGraceSeconds(): number {
  return loadConfig({
    env: {
      MCP_API_KEYS: "k".repeat(40),
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: "MCP-Privileged-Service",
    },
    home: "/nonexistent",
  }).shutdown.graceSeconds;
}

/** Seconds of a systemd time span such as `35s`, `1min 5s` or `40`. */
function systemdSeconds(span: string): number {
  let seconds = 0;
  for (const [, value, unit] of span.matchAll(/(\d+)\s*(min|s)?/g)) {
    seconds += Number(value) * (unit === "min" ? 60 : 1);
  }
  return seconds;
}

Deno.test("the systemd unit and compose give the drain on shutdown its time", async () => {
  const grace = defaultShutdownGraceSeconds();
  const unit = (await read("deploy/mcp-privileged.service")).split("\n");
  // SIGTERM to the service only: the executors of calls in flight go on.
  assert(unit.includes("KillMode=mixed"), "missing: KillMode=mixed");
  const timeout = unit.find((l) => l.startsWith("TimeoutStopSec="));
  assert(timeout !== undefined, "missing: TimeoutStopSec=");
  const stopSeconds = systemdSeconds(timeout.slice("TimeoutStopSec=".length));
  assert(
    stopSeconds >= grace + 5,
    `TimeoutStopSec (${stopSeconds} s) must exceed SHUTDOWN_GRACE_SECONDS (${grace} s) by 5 s or more`,
  );
  const compose = await read("docker-compose.yml");
  const period = /\n {4}stop_grace_period: (\d+)s\n/.exec(compose);
  assert(period !== null, "compose sets no stop_grace_period");
  assert(
    Number(period[1]) >= grace + 5,
    `stop_grace_period (${
      period[1]
    } s) must exceed SHUTDOWN_GRACE_SECONDS (${grace} s) by 5 s or more`,
  );
});

Deno.test("the systemd unit's LimitNOFILE covers the default HTTP_MAX_CONNECTIONS and executors, and the doctor reads it", async () => {
  const config = loadConfig({
    env: {
      MCP_API_KEYS: "k".repeat(40),
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: "MCP-Privileged-Service",
    },
    home: "/nonexistent",
  });
  const unit = (await read("deploy/mcp-privileged.service")).split("\n");
  const lines = unit.filter((l) => l.startsWith("LimitNOFILE="));
  assertEquals(lines.length, 1, "one LimitNOFILE= line");
  const limit = Number(/^LimitNOFILE=(\d+)$/.exec(lines[0]!)?.[1]);
  const needed = neededFileDescriptors(
    config.http.maxConnections,
    config.executors.maxConcurrent,
  );
  assert(
    limit >= needed,
    `LimitNOFILE=${limit} is below the ${needed} descriptors of the defaults`,
  );
  // The comment's arithmetic is the code's.
  const text = unit.join("\n");
  assert(
    text.includes(
      `${FDS_PER_CONNECTION} x ${config.http.maxConnections} + ${FDS_PER_EXECUTOR} x ${config.executors.maxConcurrent} + ${BASE_FDS} = ${needed}`,
    ),
    "the unit's comment shows the sum of the defaults",
  );
  const facts = fileLimitFacts(`${PROJECT_ROOT}deploy/mcp-privileged.service`);
  assertEquals(facts.limit, limit);
  assertEquals(
    checkConnectionLimits(config.http, config.executors, facts).status,
    "PASS",
  );
});

Deno.test("the nginx site cuts slow clients no later than the service would, and caps connections per address", async () => {
  const site = await read("deploy/nginx-mcp-privileged.conf");
  const seconds = (directive: string): number => {
    const match = new RegExp(`^\\s*${directive}\\s+(\\d+)s;$`, "m").exec(site);
    assert(match !== null, `the site sets no ${directive}`);
    return Number(match[1]);
  };
  const { http } = loadConfig({
    env: {
      MCP_API_KEYS: "k".repeat(40),
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: "MCP-Privileged-Service",
    },
    home: "/nonexistent",
  });
  assert(seconds("client_header_timeout") <= http.headerTimeoutSeconds);
  assert(seconds("client_body_timeout") <= http.bodyTimeoutSeconds);
  assert(seconds("keepalive_timeout") <= http.idleTimeoutSeconds);
  assert(seconds("send_timeout") > 0);
  assertMatch(
    site,
    /^limit_conn_zone \$binary_remote_addr zone=mcp_privileged_per_ip:\d+m;$/m,
  );
  assertMatch(site, /^\s*limit_conn mcp_privileged_per_ip \d+;$/m);
});

const systemdAnalyze = await (async () => {
  for (const path of ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]) {
    try {
      await Deno.stat(path);
      return path;
    } catch {
      // Try the next place.
    }
  }
  Deno.stderr.writeSync(
    new TextEncoder().encode(
      "\n*** WARNING: systemd-analyze not found: the unit's verify test is skipped (apt-get install -y systemd) ***\n\n",
    ),
  );
  return undefined;
})();

Deno.test({
  name: "systemd-analyze verifies the unit and rates its exposure below 2",
  ignore: systemdAnalyze === undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mcp-unit-" });
    try {
      // This machine's deno stands in for /usr/local/bin/deno.
      const unit = (await read("deploy/mcp-privileged.service"))
        .replaceAll("/usr/local/bin/deno", Deno.execPath());
      const path = `${dir}/mcp-privileged.service`;
      await Deno.writeTextFile(path, unit);
      const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
      const verify = await new Deno.Command(systemdAnalyze!, {
        args: ["verify", path],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = decode(verify.stdout) + decode(verify.stderr);
      assertEquals(verify.code, 0, said);
      assert(!/unknown|failed|invalid|not executable/i.test(said), said);
      const security = await new Deno.Command(systemdAnalyze!, {
        args: ["security", "--offline=yes", "--no-pager", path],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(
        decode(security.stdout) + decode(security.stderr),
      );
      assert(level !== null, "no exposure level printed");
      assert(Number(level[1]) < 2, `exposure ${level[1]}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const nginxSkip = await announceNginxSkip();

Deno.test({
  name: "nginx -t accepts the site file",
  ignore: nginxSkip !== null,
  fn: async () => {
    const site = await read("deploy/nginx-mcp-privileged.conf");
    for (
      const line of [
        "proxy_pass http://127.0.0.1:8443;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header Host $host;",
        "proxy_read_timeout 120s;",
        "deny all;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
      ]
    ) {
      assert(site.includes(line), `missing: ${line}`);
    }
    const tls = createTlsFixtures();
    const prefix = await writeNginxPrefix(site, {
      certPem: tls.serverCertPem,
      keyPem: tls.serverKeyPem,
      listenPort: freePort(),
    });
    try {
      const result = await testNginxConfig(prefix);
      assertEquals(result.code, 0, result.output);
      assertMatch(result.output, /test is successful/);
    } finally {
      await prefix.remove();
    }
  },
});
