/**
 * ssh_execute `true` through the gateway, versus ssh2 in-process, versus the
 * OpenSSH client (`sshpass -e ssh`) as a whole process; interleaved in one
 * run against the same throwaway sshd. Prints median and p90 in ms.
 *
 *   deno run -A bench/ssh_bench.ts [N]      (needs root, openssh-server, sshpass)
 *
 * @module
 */
import ssh2 from "ssh2";
import { startCcpFixture } from "../tests/support/ccp_fixture.ts";
import { startGateway } from "../tests/support/gateway_process.ts";
import { postJsonRpc } from "../tests/support/mcp_client.ts";
import { sshdAccount, startSshd } from "../tests/support/sshd.ts";
import { summarize } from "./stats.ts";

const n = Number(Deno.args[0] ?? "30");
const sshd = await startSshd();
const ccp = await startCcpFixture("S", [sshdAccount(sshd, "pw")]);
const gateway = await startGateway({
  ...ccp.gatewayEnv,
  SSH_KNOWN_HOSTS: sshd.knownHostsPath,
});

async function rpc(
  endpoint: string,
  name: string,
  args: Record<string, unknown>,
): Promise<string> {
  const response = await postJsonRpc(
    `${gateway.baseUrl}/mcp/${endpoint}`,
    "tools/call",
    { headers: { "X-API-Key": ccp.key }, params: { name, arguments: args } },
  );
  const json = await response.json();
  return json.result.content[0].text as string;
}

// The handle is fetched outside the timed section: the case times ssh_execute alone.
async function viaGateway(): Promise<() => Promise<void>> {
  const handle =
    (await rpc("cyberark", "get_credential", { safe: "S", object_name: "pw" }))
      .split("\n")[0]!.slice(8);
  return async () => {
    const text = await rpc("ssh", "ssh_execute", {
      host: "127.0.0.1",
      port: sshd.port,
      command: "true",
      secret_handle: handle,
    });
    if (!text.includes("Exit code: 0")) throw new Error(text);
  };
}

// deno-lint-ignore no-explicit-any
const { Client } = ssh2 as any;
function inProcess(noDelay: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on("ready", () => {
      client.exec(
        "true",
        (
          error: Error | undefined,
          stream: { on: (e: string, f: () => void) => void },
        ) => {
          if (error) return reject(error);
          stream.on("close", () => {
            client.end();
            resolve();
          });
          stream.on("data", () => {});
        },
      );
    });
    client.on("error", reject);
    if (noDelay) client.on("connect", () => client.setNoDelay(true));
    client.connect({
      host: "127.0.0.1",
      port: sshd.port,
      username: sshd.username,
      password: sshd.password,
      hostVerifier: () => true,
    });
  });
}

async function openssh(): Promise<void> {
  const output = await new Deno.Command("sshpass", {
    args: [
      "-e",
      "ssh",
      "-p",
      String(sshd.port),
      "-o",
      `UserKnownHostsFile=${sshd.knownHostsPath}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "PubkeyAuthentication=no",
      `${sshd.username}@127.0.0.1`,
      "true",
    ],
    env: { SSHPASS: sshd.password },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (output.code !== 0) {
    throw new Error(new TextDecoder().decode(output.stderr));
  }
}

const cases: [string, () => Promise<() => Promise<void>>][] = [
  ["ssh_execute via gateway (spawned executor, ssh2)", viaGateway],
  [
    "ssh2 in-process, TCP_NODELAY",
    () => Promise.resolve(() => inProcess(true)),
  ],
  [
    "ssh2 in-process, Nagle on (default)",
    () => Promise.resolve(() => inProcess(false)),
  ],
  ["OpenSSH client whole process (sshpass)", () => Promise.resolve(openssh)],
];
const samples: Record<string, number[]> = Object.fromEntries(
  cases.map(([name]) => [name, []]),
);
try {
  for (const [, prepare] of cases) {
    for (let i = 0; i < 3; i++) await (await prepare())();
  }
  for (let i = 0; i < n; i++) {
    for (const [name, prepare] of cases) {
      const fn = await prepare();
      const start = performance.now();
      await fn();
      samples[name]!.push(performance.now() - start);
    }
  }
} finally {
  await gateway.stop();
  await ccp.close();
  await sshd.stop();
}
// deno-lint-ignore no-console
console.log(summarize(samples, n));
