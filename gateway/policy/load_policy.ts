/**
 * Reading a policy file: YAML (the npm `yaml` parser, duplicate keys
 * refused) checked by the zod schema, every problem reported as one
 * {@linkcode PolicyError} line that names the file, the line and the rule.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import type { z } from "zod";
import { compileRules, evaluateRules } from "./evaluate.ts";
import { type Policy, POLICY_TOOLS } from "./policy.ts";
import { PolicyError } from "./policy_error.ts";
import {
  POLICY_EFFECTS,
  PolicyDocumentSchema,
  RULE_FIELDS,
} from "./policy_schema.ts";

const README_HINT = "see README Principals and policy";

/**
 * Reads and validates the policy file at `path` (synchronously: it runs at
 * start-up and on a reload).
 *
 * @throws {PolicyError} when the file cannot be read or is not a valid policy
 */
export function loadPolicyFile(path: string): Policy {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    throw new PolicyError(
      { source: path },
      `cannot be read (${
        readErrorName(error)
      }); point POLICY_FILE at a YAML policy file readable by the service user`,
      { cause: error },
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes,
    );
  } catch (error) {
    throw new PolicyError(
      { source: path },
      "is not UTF-8 text; save it as UTF-8",
      { cause: error },
    );
  }
  return parsePolicy(text, path);
}

/**
 * Parses and validates policy text; `source` names it in errors and in the
 * policy (usually the file's path).
 *
 * @throws {PolicyError} for a YAML syntax error or a policy the schema refuses
 */
export function parsePolicy(text: string, source: string): Policy {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const yamlProblem = document.errors[0] ?? document.warnings[0];
  if (yamlProblem !== undefined) {
    const problem = yamlProblem.code === "DUPLICATE_KEY"
      ? "repeats a key; write each field once"
      : `is not valid YAML (${
        firstLine(yamlProblem.message)
      }); fix the syntax, ${README_HINT}`;
    throw new PolicyError(
      { source, line: lineAt(yamlProblem.pos[0]) },
      problem,
    );
  }
  if (document.contents === null) {
    throw new PolicyError(
      { source },
      `is empty; write a rules: list, ${README_HINT}`,
    );
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new PolicyError(
      { source },
      `cannot be read as YAML (${
        error instanceof Error ? firstLine(error.message) : String(error)
      }); write plain lists and maps without alias tricks`,
      { cause: error },
    );
  }
  const parsed = PolicyDocumentSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const node = nodeAt(document.contents, issue);
    throw new PolicyError(
      {
        source,
        ...(node?.range === undefined || node.range === null
          ? {}
          : { line: lineAt(node.range[0]) }),
        ...ruleOf(data, issue.path),
      },
      issueText(issue),
    );
  }
  const rules = compileRules(parsed.data);
  return {
    source,
    sha256: createHash("sha256").update(text).digest("hex"),
    ruleCount: rules.length,
    approveRules: rules.filter((rule) => rule.effect === "approve").map((
      rule,
    ) => rule.name),
    evaluate: (request) => evaluateRules(rules, request),
  };
}

/** The rule an issue's path lies in: its name, or `rules[N]` without one. */
function ruleOf(
  data: unknown,
  path: readonly PropertyKey[],
): { rule?: string } {
  if (path[0] !== "rules" || typeof path[1] !== "number") return {};
  const rules = (data as { rules?: unknown }).rules;
  const rule = Array.isArray(rules) ? rules[path[1]] : undefined;
  const name = typeof rule === "object" && rule !== null
    ? (rule as { name?: unknown }).name
    : undefined;
  return {
    rule: typeof name === "string" && name !== "" && path[2] !== "name"
      ? name
      : `rules[${path[1]}]`,
  };
}

/**
 * The YAML node an issue points at: the deepest node along its path (for an
 * unknown field, that field's key).
 */
function nodeAt(
  root: Node | null,
  issue: z.core.$ZodIssue,
): Node | undefined {
  const path: PropertyKey[] = [...issue.path];
  if (issue.code === "unrecognized_keys" && issue.keys[0] !== undefined) {
    path.push(issue.keys[0]);
  }
  let node: Node | undefined = root ?? undefined;
  let keyNode: Node | undefined;
  for (const step of path) {
    keyNode = undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) =>
        isPair(item) && isScalar(item.key) && String(item.key.value) === step
      );
      if (pair === undefined) break;
      keyNode = isScalar(pair.key) ? pair.key : undefined;
      node = (pair.value as Node | null) ?? keyNode;
    } else if (isSeq(node) && typeof step === "number") {
      const item = node.items[step] as Node | undefined;
      if (item === undefined) break;
      node = item;
    } else break;
  }
  // An unknown field is shown at its key, a missing one at the mapping.
  return issue.code === "unrecognized_keys" ? keyNode ?? node : node;
}

/** `hosts[1]`, `groups.dba[0]`, `rules[2].effect`: the field within its rule. */
function fieldPath(path: readonly PropertyKey[]): string {
  const inRule = path[0] === "rules" && typeof path[1] === "number";
  const steps = inRule ? path.slice(2) : path;
  let text = "";
  for (const step of steps) {
    text += typeof step === "number"
      ? `[${step}]`
      : `${text === "" ? "" : "."}${String(step)}`;
  }
  return text === "" ? (inRule ? "the rule" : "the file") : text;
}

function issueText(issue: z.core.$ZodIssue): string {
  const where = fieldPath(issue.path);
  if (
    issue.input === undefined && issue.path.length > 0 &&
    issue.code !== "unrecognized_keys"
  ) {
    return `${missingField(issue.path)} is missing; add it`;
  }
  switch (issue.code) {
    case "unrecognized_keys": {
      const inRule = issue.path[0] === "rules" && issue.path.length === 2;
      const fields = inRule
        ? RULE_FIELDS.join(", ")
        : issue.path.length === 0
        ? "groups, rules"
        : undefined;
      return `${where} has an unknown field "${String(issue.keys[0])}"${
        fields === undefined ? "" : `; the fields are ${fields}`
      }`;
    }
    case "invalid_type":
      return `${where} must be ${typeWords(issue.expected)}, not ${
        describe(issue.input)
      }`;
    case "invalid_value": {
      const field = issue.path.at(-1);
      const choices = field === "effect"
        ? POLICY_EFFECTS
        : typeof field === "number"
        ? POLICY_TOOLS
        : issue.values.map(String);
      return `${where} is ${describe(issue.input)}; use one of ${
        choices.join(", ")
      }`;
    }
    case "invalid_key":
      // A group's name: the key's own check says what is wrong with it.
      return `${fieldPath(issue.path.slice(0, -1))} ${
        issue.issues[0]?.message ??
          `has the invalid key "${String(issue.path.at(-1))}"`
      }`;
    default:
      return `${where} ${issue.message}`;
  }
}

function missingField(path: readonly PropertyKey[]): string {
  const inRule = path[0] === "rules" && typeof path[1] === "number";
  const field = String(path.at(-1));
  return inRule && path.length === 3
    ? `the rule's field ${field}`
    : `the field ${field}`;
}

function typeWords(expected: string): string {
  switch (expected) {
    case "array":
      return "a list";
    case "string":
      return "text";
    case "boolean":
      return "true or false";
    case "object":
    case "record":
      return "a mapping of fields";
    default:
      return expected;
  }
}

function describe(value: unknown): string {
  if (value === null) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "a mapping";
  return String(value);
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

function readErrorName(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno permissions";
  }
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.name : "unreadable";
}
