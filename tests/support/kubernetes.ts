/**
 * The Kubernetes manifests of `deploy/kubernetes/` as the tests read them:
 * parsed as kubectl parses them (YAML 1.1), checked against the Kubernetes
 * API schemas of the npm package kubernetes-models (Kubernetes 1.36), and
 * the Dockerfile's facts that the Deployment must agree with.
 *
 * Two checks make up "valid against the schemas", because the package's
 * compiled JSON-schema validators (`.validate()`) check types, enums,
 * patterns and required fields but accept unknown fields, which the API
 * server refuses (kubectl applies with strict field validation). The same
 * package's TypeScript interfaces list every field, so a generated module
 * that assigns each manifest to its interface is type-checked too: an
 * unknown or misspelt field anywhere is an excess-property error.
 *
 * @module
 */
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { parseAllDocuments } from "yaml";
import { PROJECT_ROOT } from "./paths.ts";

/** The manifests' directory, relative to the project root. */
export const MANIFEST_DIR = "deploy/kubernetes";

/** A Kubernetes object as parsed from YAML. */
export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string } & Record<string, unknown>;
};

/** One object of one manifest file. */
export interface Manifest {
  /** File name inside {@linkcode MANIFEST_DIR}. */
  readonly file: string;
  readonly object: KubeObject;
}

/** The model class of a kind: its type guard and its schema validator. */
interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  is(value: unknown): boolean;
  new (data: never): { validate(): void };
}

/** Where the model and the TypeScript interface of a kind live. */
interface KindModel {
  readonly model: ModelClass;
  /** Module of the interface, for the generated type check. */
  readonly module: string;
  /** The interface's name in that module. */
  readonly type: string;
}

const KINDS: Record<string, KindModel> = {
  "v1/Namespace": kind(Namespace, "v1/Namespace"),
  "v1/ServiceAccount": kind(ServiceAccount, "v1/ServiceAccount"),
  "v1/ConfigMap": kind(ConfigMap, "v1/ConfigMap"),
  "v1/Secret": kind(Secret, "v1/Secret"),
  "v1/Service": kind(Service, "v1/Service"),
  "apps/v1/Deployment": kind(Deployment, "apps/v1/Deployment"),
  "policy/v1/PodDisruptionBudget": kind(
    PodDisruptionBudget,
    "policy/v1/PodDisruptionBudget",
  ),
  "networking.k8s.io/v1/NetworkPolicy": kind(
    NetworkPolicy,
    "networking.k8s.io/v1/NetworkPolicy",
  ),
};

function kind(model: unknown, path: string): KindModel {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return {
    model: model as ModelClass,
    module: `kubernetes-models/${path}`,
    type: `I${name}`,
  };
}

/**
 * Parses YAML as kubectl does (YAML 1.1: `0440` is octal, `yes` a boolean).
 *
 * @throws {Error} naming the file for a YAML syntax error
 */
export function parseYaml(
  text: string,
  file: string,
  version: "1.1" | "1.2" = "1.1",
): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text, { version })) {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: ${doc.errors[0]!.message}`);
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** The YAML file names of the manifest directory, sorted. */
export async function manifestFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${PROJECT_ROOT}${MANIFEST_DIR}`)) {
    if (entry.isFile && /\.ya?ml$/.test(entry.name)) names.push(entry.name);
  }
  return names.sort();
}

/** Reads a file of the manifest directory. */
export function readManifestText(file: string): Promise<string> {
  return Deno.readTextFile(`${PROJECT_ROOT}${MANIFEST_DIR}/${file}`);
}

/** Every object of every manifest file except kustomization.yaml. */
export async function loadManifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of await manifestFiles()) {
    if (file === "kustomization.yaml") continue;
    for (const object of parseYaml(await readManifestText(file), file)) {
      out.push({ file, object: object as KubeObject });
    }
  }
  return out;
}

/**
 * Validates one object against the JSON schema of its kind.
 *
 * @returns the validator's message, or `undefined` when it is valid
 */
export function schemaError(object: KubeObject): string | undefined {
  const entry = KINDS[`${object.apiVersion}/${object.kind}`];
  if (entry === undefined) {
    return `no model for ${object.apiVersion} ${object.kind}; add it to tests/support/kubernetes.ts`;
  }
  if (!entry.model.is(object)) return "apiVersion or kind does not match";
  try {
    new entry.model(structuredClone(object) as never).validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Type-checks every object against the TypeScript interface of its kind, in
 * a generated module checked with this project's deno.json and lockfile.
 *
 * @returns what `deno check` printed; empty when every object type-checks
 */
export async function typeCheckErrors(objects: KubeObject[]): Promise<string> {
  const imports = new Set<string>();
  const lines: string[] = [];
  for (const [index, object] of objects.entries()) {
    const entry = KINDS[`${object.apiVersion}/${object.kind}`];
    if (entry === undefined) {
      return `no model for ${object.apiVersion} ${object.kind}`;
    }
    imports.add(`import type { ${entry.type} } from "${entry.module}";`);
    lines.push(
      `// ${object.kind} ${object.metadata.name}`,
      `export const object${index}: ${entry.type} = ${
        JSON.stringify(object, null, 2)
      };`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "mcp-k8s-types-" });
  try {
    const file = `${dir}/manifests.ts`;
    await Deno.writeTextFile(file, [...imports, ...lines].join("\n") + "\n");
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        "--frozen-lockfile",
        "--config",
        `${PROJECT_ROOT}deno.json`,
        file,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stderr) +
      new TextDecoder().decode(output.stdout);
    return output.success ? "" : text.trim() || `deno check failed`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The Dockerfile facts the Deployment must agree with. */
export interface DockerfileFacts {
  /** Name and uid of the `useradd` line. */
  readonly user: { readonly name: string; readonly uid: number };
  /** The `USER` instruction. */
  readonly runsAs: string;
  /** The `EXPOSE`d ports. */
  readonly exposed: number[];
  readonly workdir: string;
  /** Every `ENV` variable. */
  readonly env: Record<string, string>;
  /** The `CMD` JSON array. */
  readonly cmd: string[];
}

/**
 * Reads the Dockerfile's user, ports, work directory, environment and CMD.
 *
 * @throws {Error} naming the instruction that is missing
 */
export async function dockerfileFacts(): Promise<DockerfileFacts> {
  const text = (await Deno.readTextFile(`${PROJECT_ROOT}Dockerfile`))
    .replace(/\\\n/g, " ");
  const lines = text.split("\n").map((line) => line.trim());
  const find = (prefix: string): string => {
    const line = lines.find((l) => l.startsWith(prefix));
    if (line === undefined) throw new Error(`the Dockerfile has no ${prefix}`);
    return line;
  };
  const useradd = find("RUN useradd").split(/\s+/);
  const uidAt = useradd.indexOf("--uid");
  const env: Record<string, string> = {};
  for (const line of lines.filter((l) => l.startsWith("ENV "))) {
    for (const token of line.slice(4).trim().split(/\s+/)) {
      const eq = token.indexOf("=");
      if (eq > 0) env[token.slice(0, eq)] = token.slice(eq + 1);
    }
  }
  return {
    user: { name: useradd.at(-1)!, uid: Number(useradd[uidAt + 1]) },
    runsAs: find("USER ").slice(5).trim(),
    exposed: lines.filter((l) => l.startsWith("EXPOSE ")).flatMap((l) =>
      l.slice(7).trim().split(/\s+/).map((p) => Number(p.split("/")[0]))
    ),
    workdir: find("WORKDIR ").slice(8).trim(),
    env,
    cmd: JSON.parse(find("CMD [").slice(4)) as string[],
  };
}

const QUANTITY_FACTORS: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/**
 * A Kubernetes resource quantity ("1280Mi", "250m", "2") as a number of
 * bytes or cores.
 *
 * @throws {Error} for a quantity this helper does not read
 */
export function quantity(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(
    String(value),
  );
  if (match === null) throw new Error(`not a quantity: ${String(value)}`);
  return Number(match[1]) * QUANTITY_FACTORS[match[2] ?? ""]!;
}
