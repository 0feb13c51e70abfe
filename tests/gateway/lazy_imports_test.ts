/**
 * The idle gateway holds only what its configuration uses: the Redis client,
 * the OAuth verifier (jose), the PKCS#12 parser (node-forge) and the
 * Prometheus client (prom-client) are reached from main.ts only through
 * dynamic imports taken when configured (`services.ts`, `ccp_setup.ts`,
 * `main.ts` for METRICS_PORT). Read from `deno info --json`, whose
 * graph marks each import as static or dynamic.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { PROJECT_ROOT } from "../support/gateway_process.ts";

interface InfoModule {
  specifier: string;
  kind?: string;
  npmPackage?: string;
  dependencies?: {
    specifier: string;
    isDynamic?: boolean;
    code?: { specifier: string };
  }[];
}

async function staticGraph(entry: string): Promise<{
  files: Set<string>;
  packages: Set<string>;
}> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--frozen-lockfile", entry],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0) {
    let specifier = queue.pop()!;
    specifier = info.redirects[specifier] ?? specifier;
    if (files.has(specifier)) continue;
    files.add(specifier);
    const module = bySpecifier.get(specifier);
    if (module === undefined) continue;
    if (module.kind === "npm" && module.npmPackage !== undefined) {
      packages.add(
        module.npmPackage.replace(/@[^@/]+$/, "").replace(
          /@[\d.]+(_.*)?$/,
          "",
        ),
      );
    }
    for (const dependency of module.dependencies ?? []) {
      if (dependency.isDynamic || dependency.code === undefined) continue;
      queue.push(dependency.code.specifier);
    }
  }
  return { files, packages };
}

Deno.test("main.ts loads Redis, jose, node-forge and prom-client only through imports taken when configured", async () => {
  const { files, packages } = await staticGraph("main.ts");
  const npm = [...files].filter((f) => f.startsWith("npm:"));
  const loaded = (name: string): boolean =>
    npm.some((f) => f.startsWith(`npm:/${name}@`)) ||
    [...packages].some((p) => p === name);
  assertEquals(
    ["ioredis", "jose", "node-forge", "prom-client"].filter(loaded),
    [],
    "statically imported from main.ts",
  );
  for (
    const file of [
      "vault/redis_handle_store.ts",
      "gateway/redis_rate_limits.ts",
      "gateway/approvals/redis_approval_store.ts",
      "gateway/approvals/http/redis_console_sessions.ts",
      "gateway/oauth/jwt_verifier.ts",
      "vault/pfx.ts",
    ]
  ) {
    assert(
      !files.has(new URL(file, `file://${PROJECT_ROOT}`).href),
      `${file} is imported statically from main.ts`,
    );
  }
  // The check can fail: the MCP SDK and hono are reached statically.
  assert(loaded("@modelcontextprotocol/sdk") && loaded("hono"));
});
