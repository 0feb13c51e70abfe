/**
 * The repository carries everything it reads and cites: a user's clone has
 * nothing beside it, so no file may point at a folder outside the project
 * (the research notes this project grew from lived one level up, in
 * `shared`). The checker is a pure function over a file's path and text, so
 * its own tests feed it planted violations instead of writing into the tree.
 */
import { assertEquals } from "./support/assert.ts";
import { fromFileUrl } from "./support/paths.ts";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

/**
 * Texts that cite the notes beside the repository. Built from pieces so that
 * this file does not trip its own check.
 */
const FORBIDDEN_TEXTS: readonly string[] = [
  ["shared", "reference"].join("/"),
  ["..", "shared"].join("/"),
];

/** One place where a file reaches outside the repository. */
interface Violation {
  path: string;
  line: number;
  reason: string;
}

/** Relative specifiers a TypeScript file resolves against its own location. */
const RELATIVE_LITERALS: readonly RegExp[] = [
  // import ... from "x"; export ... from "x"; import "x" (statements start a
  // line, so source text quoted inside a string is not taken for one)
  /^[ \t]*(?:import|export)\b[^;'"`]*?(["'])(\.{1,2}\/[^"'\n]*)\1/gm,
  // import("x")
  /\bimport\(\s*(["'])(\.{1,2}\/[^"'\n]*)\1/g,
  // new URL("x", import.meta.url), also split over lines; a template literal
  // counts up to its first substitution
  /\bnew\s+URL\(\s*(["'`])(\.{1,2}(?:\/[^"'`$\n]*)?)(?:\1|\$\{)[^)]*?import\.meta\.url/g,
];

/**
 * Lists where `text` (the content of the repository file at `path`, relative
 * to the root with `/` separators) reads or cites a path outside the
 * repository.
 */
function findOutsideReferences(path: string, text: string): Violation[] {
  const violations: Violation[] = [];
  const lineAt = (index: number): number =>
    text.slice(0, index).split("\n").length;
  for (const forbidden of FORBIDDEN_TEXTS) {
    let index = text.indexOf(forbidden);
    while (index !== -1) {
      violations.push({
        path,
        line: lineAt(index),
        reason:
          `cites "${forbidden}", which is outside the repository; copy what is needed into tests/testdata/ or docs/reference/ and cite that`,
      });
      index = text.indexOf(forbidden, index + forbidden.length);
    }
  }
  if (/\.(ts|tsx|js|mjs)$/.test(path)) {
    for (const pattern of RELATIVE_LITERALS) {
      for (const match of text.matchAll(pattern)) {
        const specifier = match[2]!;
        if (resolvesAboveRoot(path, specifier)) {
          violations.push({
            path,
            line: lineAt(match.index),
            reason:
              `"${specifier}" resolves above the project root; keep what the file reads inside the repository`,
          });
        }
      }
    }
  }
  return violations.sort((a, b) => a.line - b.line);
}

/** Whether `specifier`, relative to the file at `path`, leaves the root. */
function resolvesAboveRoot(path: string, specifier: string): boolean {
  const segments = path.split("/").slice(0, -1);
  for (const segment of specifier.split("/")) {
    if (segment === "..") {
      if (segments.length === 0) return true;
      segments.pop();
    } else if (segment !== "." && segment !== "") {
      segments.push(segment);
    }
  }
  return false;
}

/** Every file of the project: tracked ones and new ones git does not ignore. */
async function projectFiles(): Promise<string[]> {
  const git = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (git?.success === true) {
    const listed = new TextDecoder().decode(git.stdout).split("\0");
    return [...new Set(listed.filter((path) => path !== ""))].sort();
  }
  // An export without .git (a release archive): walk the tree instead.
  return walk("");
}

async function walk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name !== ".git" && entry.name !== "node_modules") {
        files.push(...await walk(`${path}/`));
      }
    } else if (entry.isFile) {
      files.push(path);
    }
  }
  return files.sort();
}

/** The file's text, or undefined for a binary file or one deleted meanwhile. */
async function readText(path: string): Promise<string | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${ROOT}${path}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

Deno.test("no file in the repository reads or cites a path outside it", async () => {
  const files = await projectFiles();
  const violations: string[] = [];
  for (const path of files) {
    const text = await readText(path);
    if (text === undefined) continue;
    for (const v of findOutsideReferences(path, text)) {
      violations.push(`${v.path}:${v.line}: ${v.reason}`);
    }
  }
  assertEquals(violations, []);
  // Guard against a listing that silently found nothing to check.
  assertEquals(files.includes("tests/self_contained_test.ts"), true);
});

Deno.test("findOutsideReferences() catches a citation of the notes beside the repository", () => {
  const cited = ["..", "shared", "reference", "winrm", "PROTOCOL.md"].join("/");
  const found = findOutsideReferences(
    "docs/operations.md",
    `# Operations\n\nSee ${cited} for the wire format.\n`,
  );
  assertEquals(found.map((v) => v.line), [3, 3]);
  assertEquals(found.every((v) => v.path === "docs/operations.md"), true);
});

/**
 * `n` parent steps. Synthetic sources below are assembled with it so that
 * their literals do not read as real ones when this file checks itself.
 */
function up(n: number): string {
  return "../".repeat(n);
}

Deno.test("findOutsideReferences() catches relative literals that climb above the root", () => {
  const text = [
    `import { x } from "${up(3)}outside/x.ts";`,
    `export * from '${up(3)}elsewhere.ts';`,
    `await import("${up(3)}dynamic.ts");`,
    "const DATA = new URL(",
    `  "${up(3)}fixtures/",`,
    "  import.meta.url,",
    ");",
    "const ONE = new URL(`" + up(3) + "data/${name}`, import.meta.url);",
  ].join("\n");
  const found = findOutsideReferences("tests/vault/planted_test.ts", text);
  assertEquals(found.map((v) => v.line), [1, 2, 3, 4, 8]);
});

Deno.test("findOutsideReferences() accepts relative literals that stay inside the repository", () => {
  const text = [
    `import { assert } from "${up(1)}support/assert.ts";`,
    `import "./side_effect.ts";`,
    `const ROOT = new URL("${up(2)}", import.meta.url);`,
    `const DATA = new URL("${up(1)}testdata/winrm/", import.meta.url);`,
    "const ONE = new URL(`" + up(2) + "testdata/${name}`, import.meta.url);",
    `import { z } from "zod";`,
  ].join("\n");
  assertEquals(findOutsideReferences("tests/vault/good_test.ts", text), []);
});

Deno.test("findOutsideReferences() checks relative literals only in code", () => {
  const prose = `import x from "${up(3)}y.ts";\n`;
  assertEquals(findOutsideReferences("docs/notes.md", prose), []);
  assertEquals(
    findOutsideReferences("main.ts", prose).map((v) => v.line),
    [1],
  );
});
