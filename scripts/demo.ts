/**
 * `deno task demo`: a self-contained local demo. Starts the CCP emulator with
 * the demo accounts (emulator/demo_accounts.json) and the real gateway
 * (main.ts) with a freshly generated API key, then prints the Claude Code
 * `mcpServers` JSON and a curl line for /health.
 *
 * Environment: DEMO_PORT (default 8443) for the gateway.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  loadEmulatorData,
  startCcpEmulator,
} from "../emulator/ccp_emulator.ts";
import { say } from "./_cli.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const port = Number(Deno.env.get("DEMO_PORT") ?? "8443");
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  // deno-lint-ignore no-console
  console.error("DEMO_PORT must be a TCP port from 1 to 65535");
  Deno.exit(2);
}

const data = await loadEmulatorData(`${root}emulator/demo_accounts.json`);
const emulator = await startCcpEmulator({
  data,
  hostname: "127.0.0.1",
  port: 0,
});
const apiKey = Array.from(
  crypto.getRandomValues(new Uint8Array(32)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

const gateway = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--cached-only",
    "--frozen-lockfile",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    `--allow-run=${Deno.execPath()}`,
    `${root}main.ts`,
  ],
  cwd: root,
  clearEnv: true,
  env: {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    ENV_FILE: "",
    MCP_API_KEYS: apiKey,
    CYBERARK_CCP_URL: emulator.url,
    CYBERARK_APP_ID: "MCP-Privileged-Service",
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_FORMAT: "console",
    LOG_LEVEL: "INFO",
  },
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
}).spawn();

const base = `http://127.0.0.1:${port}`;
const servers = Object.fromEntries(
  ["cyberark", "ssh", "powershell", "database"].map((name) => [name, {
    type: "http",
    url: `${base}/mcp/${name}`,
    headers: { "X-API-Key": apiKey },
  }]),
);

let announced = false;
const decoder = new TextDecoder();
const forward = gateway.stdout.pipeTo(
  new WritableStream({
    write(chunk): void {
      const text = decoder.decode(chunk, { stream: true });
      Deno.stdout.writeSync(chunk);
      if (!announced && text.includes("service_started")) {
        announced = true;
        say(`
mcp-privileged demo is running (CyberArk CCP emulator at ${emulator.url}).
Demo only: the API key below was generated for this run and the emulator serves demo accounts.

Claude Code configuration (manual section 9.1), ready to paste into ~/.claude/settings.json
or a project .mcp.json:

${JSON.stringify({ mcpServers: servers }, null, 2)}

Or add them with the Claude Code CLI:
${
          Object.entries(servers).map(([name, s]) =>
            `  claude mcp add --transport http ${name} ${s.url} --header "X-API-Key: ${apiKey}"`
          ).join("\n")
        }

Health check:
  curl ${base}/health

Try: get_credential(safe="PROD-LINUX", object_name="linux-root"). Press Ctrl-C to stop.
`);
      }
    },
  }),
);

const stop = (): void => {
  try {
    gateway.kill("SIGTERM");
  } catch {
    // Already gone.
  }
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
const status = await gateway.status;
await forward.catch(() => {});
await emulator.close();
Deno.exit(status.code === 0 || status.signal === "SIGTERM" ? 0 : status.code);
