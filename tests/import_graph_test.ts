/**
 * Dependencies point one way: main -> gateway -> {vault, executors}. The vault
 * imports neither gateway nor executors; executors import neither gateway nor
 * vault; an executor child imports only the protocol (and its own driver).
 */
import { assertEquals } from "./support/assert.ts";
import { PROJECT_ROOT } from "./support/gateway_process.ts";

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${PROJECT_ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

function relativeImports(text: string): string[] {
  const found: string[] = [];
  for (
    const match of text.matchAll(
      /(?:import|export)[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g,
    )
  ) {
    const spec = match[1] ?? match[2];
    if (spec !== undefined) found.push(spec);
  }
  return found;
}

function resolve(from: string, spec: string): string {
  return new URL(spec, `file:///${from}`).pathname.slice(1);
}

Deno.test("imports point one way: vault and executors never import the gateway or each other", async () => {
  const violations: string[] = [];
  for (const folder of ["vault", "executors"]) {
    for (const file of await sourceFiles(folder)) {
      const text = await Deno.readTextFile(`${PROJECT_ROOT}${file}`);
      for (const spec of relativeImports(text)) {
        if (spec.startsWith("http") || spec.startsWith("jsr:")) {
          violations.push(`${file} imports ${spec}`);
        }
        if (!spec.startsWith(".")) continue;
        const target = resolve(file, spec);
        const top = target.split("/")[0];
        if (top !== folder) violations.push(`${file} imports ${target}`);
      }
    }
  }
  assertEquals(violations, []);
});

Deno.test("no jsr: or https: import anywhere", async () => {
  const violations: string[] = [];
  for (
    const folder of [
      "gateway",
      "vault",
      "executors",
      "emulator",
      "scripts",
      "tests",
      "bench",
    ]
  ) {
    let files: string[] = [];
    try {
      files = await sourceFiles(folder);
    } catch {
      continue;
    }
    for (const file of files) {
      const text = await Deno.readTextFile(`${PROJECT_ROOT}${file}`);
      for (const spec of relativeImports(text)) {
        if (/^(jsr:|https?:)/.test(spec)) {
          violations.push(`${file} imports ${spec}`);
        }
      }
    }
  }
  const config = JSON.parse(
    await Deno.readTextFile(`${PROJECT_ROOT}deno.json`),
  );
  for (
    const [name, target] of Object.entries(
      config.imports as Record<string, string>,
    )
  ) {
    if (!target.startsWith("npm:")) {
      violations.push(`deno.json maps ${name} to ${target}`);
    }
  }
  assertEquals(violations, []);
});
