/**
 * The house reads top-down: main -> gateway -> {vault, executors/spawner} ->
 * executors/protocol <- executors/children. These tests read every import
 * and refuse any that points the other way or crosses the process boundary.
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

function importSpecifiers(text: string): string[] {
  const found: string[] = [];
  for (
    const match of text.matchAll(
      /(?:import|export)[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm,
    )
  ) {
    const spec = match[1] ?? match[2] ?? match[3];
    if (spec !== undefined) found.push(spec);
  }
  return found;
}

function resolve(from: string, spec: string): string {
  return new URL(spec, `file:///${from}`).pathname.slice(1);
}

/** The layer a project file belongs to, by its folder. */
function layerOf(path: string): string {
  for (
    const layer of [
      "executors/protocol",
      "executors/spawner",
      "executors/children",
    ]
  ) {
    if (path.startsWith(`${layer}/`)) return layer;
  }
  return path.includes("/") ? path.split("/")[0]! : path;
}

/** Which layers each layer may import (its own is always allowed). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  "vault": [],
  "executors/protocol": [],
  "executors/spawner": ["executors/protocol"],
  "executors/children": ["executors/protocol"],
  "gateway": ["vault", "executors/spawner", "executors/protocol"],
  "main.ts": ["gateway", "vault", "executors/spawner"],
};

/** Packages a child may load besides the protocol: its driver and Node built-ins. */
const CHILD_PACKAGES: ReadonlySet<string> = new Set([
  "ssh2",
  "pg",
  "mysql2",
  "mssql",
]);

async function violationsOf(files: readonly string[]): Promise<string[]> {
  const violations: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    if (allowed === undefined) continue;
    const text = await Deno.readTextFile(`${PROJECT_ROOT}${file}`);
    for (const spec of importSpecifiers(text)) {
      if (!spec.startsWith(".")) {
        if (
          from === "executors/children" && !spec.startsWith("node:") &&
          !CHILD_PACKAGES.has(spec)
        ) {
          violations.push(`${file} (a child) imports the package ${spec}`);
        }
        if (from === "executors/protocol" && spec !== "zod") {
          violations.push(`${file} (the protocol) imports ${spec}`);
        }
        continue;
      }
      const target = resolve(file, spec);
      const to = layerOf(target);
      if (to !== from && !allowed.includes(to)) {
        violations.push(`${file} (${from}) imports ${target} (${to})`);
      }
    }
  }
  return violations;
}

Deno.test("imports point one way: main -> gateway -> {vault, spawner} -> protocol <- children", async () => {
  const files = [
    "main.ts",
    ...await sourceFiles("gateway"),
    ...await sourceFiles("vault"),
    ...await sourceFiles("executors"),
  ];
  assertEquals(await violationsOf(files), []);
});

Deno.test("every file under executors/ sits on one side of the process boundary", async () => {
  const loose = (await sourceFiles("executors")).filter((file) =>
    !["executors/protocol", "executors/spawner", "executors/children"]
      .includes(layerOf(file))
  );
  assertEquals(loose, []);
});

Deno.test("the import rules refuse a child that imports the gateway, the spawner or a logger", async () => {
  const dir = `${PROJECT_ROOT}executors/children/`;
  const probe = `${dir}_import_graph_probe_${crypto.randomUUID()}.ts`;
  await Deno.writeTextFile(
    probe,
    [
      'import "../../gateway/audit.ts";',
      'import { EXECUTORS } from "../spawner/mod.ts";',
      'import { getLogger } from "@logtape/logtape";',
      'import { z } from "zod";',
      'import { failure } from "../protocol/mod.ts";',
      'import ssh2 from "ssh2";',
    ].join("\n"),
  );
  try {
    const file = probe.slice(PROJECT_ROOT.length);
    const found = await violationsOf([file]);
    assertEquals(found.length, 4, found.join("\n"));
  } finally {
    await Deno.remove(probe);
  }
});

Deno.test("the gateway never imports a child", async () => {
  const violations: string[] = [];
  for (const file of ["main.ts", ...await sourceFiles("gateway")]) {
    const text = await Deno.readTextFile(`${PROJECT_ROOT}${file}`);
    for (const spec of importSpecifiers(text)) {
      if (
        spec.startsWith(".") &&
        layerOf(resolve(file, spec)) === "executors/children"
      ) {
        violations.push(`${file} imports ${spec}`);
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
      for (const spec of importSpecifiers(text)) {
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
