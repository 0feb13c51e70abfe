/**
 * Hostile tests of the executor sandbox: the real probe executor, through the
 * real spawner, tries what a compromised driver would.
 */
import type {
  ProbeOperation,
  ProbeResult,
  Target,
} from "../../../executors/protocol/mod.ts";
import { ExecutorSpawner } from "../../../executors/spawner/mod.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { denoInfo } from "./_deno_info.ts";

const spawner = new ExecutorSpawner();

async function probe(
  target: Target,
  operation: Omit<ProbeOperation, "kind">,
): Promise<ProbeResult> {
  const outcome = await spawner.run({
    target,
    credential: {
      username: "probe",
      kind: "password",
      secret: { reveal: () => "probe-secret-not-used" },
    },
    operation: { kind: "probe", ...operation },
    timeoutMs: 20_000,
  });
  assert(outcome.ok, `the probe failed: ${JSON.stringify(outcome)}`);
  assert(outcome.result.kind === "probe");
  return outcome.result;
}

/** A target for probes that do not connect (the discard port). */
const NO_TARGET: Target = { host: "127.0.0.1", port: 9 };

function assertDenied(result: ProbeResult): void {
  assertEquals(
    [result.outcome, result.errorName],
    ["denied", "NotCapable"],
    `${result.action} was not denied: ${result.detail}`,
  );
}

/** A TCP listener standing in for the executor's own target. */
class TargetServer {
  readonly #listener: Deno.TcpListener;
  readonly #done: Promise<void>;
  accepted = 0;

  constructor(hostname: string) {
    this.#listener = Deno.listen({ hostname, port: 0 });
    this.#done = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const connection of this.#listener) {
        this.accepted++;
        connection.close();
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#done;
  }
}

/** An HTTP server standing in for the CyberArk CCP. */
function startCcp(): {
  server: Deno.HttpServer<Deno.NetAddr>;
  requests: string[];
} {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      requests.push(request.url);
      return Response.json({ Content: "ccp-password" });
    },
  );
  return { server, requests };
}

Deno.test("sandbox: an executor reaches its own target but not the CCP on another port", async () => {
  await using target = new TargetServer("127.0.0.1");
  const ccp = startCcp();
  try {
    const own = { host: "127.0.0.1", port: target.port };
    const ccpPort = ccp.server.addr.port;
    const reached = await probe(own, { action: "connect_target" });
    assertEquals(reached.outcome, "allowed", reached.detail);
    assert(target.accepted >= 1, "the target saw no connection");

    assertDenied(
      await probe(own, {
        action: "connect_other",
        other: { host: "127.0.0.1", port: ccpPort },
      }),
    );
    assertDenied(
      await probe(own, {
        action: "fetch_url",
        url:
          `http://127.0.0.1:${ccpPort}/AIMWebService/api/Accounts?AppID=x&Safe=y&Object=z`,
      }),
    );
    // Same listener under another name: the grant is for the exact host string.
    assertDenied(
      await probe(own, {
        action: "connect_other",
        other: { host: "localhost", port: target.port },
      }),
    );
    assertEquals(ccp.requests, []);
  } finally {
    await ccp.server.shutdown();
  }
});

Deno.test("sandbox: an executor reaches an IPv6 target through --allow-net=[::1]:PORT", async () => {
  await using target = new TargetServer("::1");
  const result = await probe({ host: "[::1]", port: target.port }, {
    action: "connect_target",
  });
  assertEquals(result.outcome, "allowed", result.detail);
  assertDenied(
    await probe({ host: "::1", port: target.port }, {
      action: "connect_other",
      other: { host: "127.0.0.1", port: target.port },
    }),
  );
});

Deno.test("sandbox: an executor cannot read files", async () => {
  for (
    const path of [
      "/etc/passwd",
      "/proc/self/environ",
      new URL("../../../deno.json", import.meta.url).pathname,
    ]
  ) {
    assertDenied(await probe(NO_TARGET, { action: "read_file", path }));
  }
});

Deno.test("sandbox: an executor cannot read the environment", async () => {
  assertDenied(await probe(NO_TARGET, { action: "read_env" }));
});

Deno.test("sandbox: an executor cannot spawn a process", async () => {
  assertDenied(await probe(NO_TARGET, { action: "spawn_process" }));
});

Deno.test("sandbox: an executor cannot write files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "executor_sandbox_" });
  try {
    const path = `${dir}/written_by_executor`;
    assertDenied(await probe(NO_TARGET, { action: "write_file", path }));
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sandbox: an executor cannot listen on a port", async () => {
  assertDenied(await probe(NO_TARGET, { action: "listen" }));
});

Deno.test("sandbox: an executor cannot query a DNS server", async () => {
  assertDenied(await probe(NO_TARGET, { action: "resolve_dns" }));
});

Deno.test("sandbox: an executor cannot fetch a module at run time and deno.lock stays unchanged", async () => {
  const lockUrl = new URL("../../../deno.lock", import.meta.url);
  const before = await Deno.readFile(lockUrl);
  const result = await probe(NO_TARGET, { action: "import_npm" });
  assert(
    result.outcome !== "allowed",
    `the import succeeded: ${result.detail}`,
  );
  assertStringIncludes(result.detail, "--cached-only");
  assertEquals(await Deno.readFile(lockUrl), before, "deno.lock changed");
  const lockText = new TextDecoder().decode(before);
  assert(!lockText.includes("left-pad"), "left-pad is in deno.lock");
  assert(!existsSync(new URL("../../node_modules/left-pad", import.meta.url)));
  const { npmCache } = await denoInfo();
  assert(
    !existsSync(new URL(`file://${npmCache}/registry.npmjs.org/left-pad`)),
    "left-pad was cached",
  );
});

function existsSync(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
