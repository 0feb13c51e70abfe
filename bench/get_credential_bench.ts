/**
 * get_credential through the gateway (MCP tools/call over HTTP) versus a
 * direct CCP call, interleaved in one run. Prints medians and p90 in ms.
 *
 *   deno run -A bench/get_credential_bench.ts [N]
 *
 * @module
 */
import {
  loadEmulatorData,
  startCcpEmulator,
} from "../emulator/ccp_emulator.ts";
import { startGateway } from "../tests/support/gateway_process.ts";
import { postJsonRpc } from "../tests/support/mcp_client.ts";
import { summarize } from "./stats.ts";

const n = Number(Deno.args[0] ?? "100");
const data = await loadEmulatorData(
  new URL("../emulator/demo_accounts.json", import.meta.url).pathname,
);
const emulator = await startCcpEmulator({ data });
const key = Array.from(
  crypto.getRandomValues(new Uint8Array(32)),
  (b) => b.toString(16).padStart(2, "0"),
)
  .join("");
const gateway = await startGateway({
  MCP_API_KEYS: key,
  CYBERARK_CCP_URL: emulator.url,
  CYBERARK_APP_ID: "MCP-Privileged-Service",
  LOG_LEVEL: "INFO",
});

async function viaGateway(): Promise<void> {
  const response = await postJsonRpc(
    `${gateway.baseUrl}/mcp/cyberark`,
    "tools/call",
    {
      headers: { "X-API-Key": key },
      params: {
        name: "get_credential",
        arguments: { safe: "PROD-LINUX", object_name: "linux-root" },
      },
    },
  );
  const text = await response.text();
  if (!text.includes("Handle: secret://")) {
    throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
  }
}
async function direct(): Promise<void> {
  const response = await fetch(
    `${emulator.url}?AppID=MCP-Privileged-Service&Safe=PROD-LINUX&Folder=Root&Object=linux-root`,
  );
  const json = await response.json();
  if (typeof json.Content !== "string") throw new Error("no Content");
}

const samples: Record<string, number[]> = {
  "get_credential via gateway (MCP over HTTP)": [],
  "direct CCP GET": [],
};
const cases: [string, () => Promise<void>][] = [
  ["get_credential via gateway (MCP over HTTP)", viaGateway],
  ["direct CCP GET", direct],
];
for (const [, fn] of cases) for (let i = 0; i < 10; i++) await fn(); // warm-up
for (let i = 0; i < n; i++) {
  for (const [name, fn] of cases) {
    const start = performance.now();
    await fn();
    samples[name]!.push(performance.now() - start);
  }
}
await gateway.stop();
await emulator.close();
// deno-lint-ignore no-console
console.log(summarize(samples, n));
