/**
 * `deno task policy`: answers "would this call be allowed, and by which
 * rule?" for operators, and validates a policy file.
 *
 * ```sh
 * deno task policy explain --principal P --tool T [--safe S] [--object O] [--host H] [--command C] [--group G ...] [--file F]
 * deno task policy check [--file F]
 * ```
 *
 * The file defaults to POLICY_FILE, read from the environment and the
 * `.env` file (ENV_FILE, default `.env`) as the service reads it. Exit code:
 * `explain` 0 when the call would be allowed, 1 when it would be denied or
 * need an approval; `check` 0 for a valid file; 2 for a usage error or a
 * file that cannot be used (its one line, as check-config prints it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, policyFileSetting } from "../gateway/config/mod.ts";
import {
  GROUP_NAME_PATTERN,
  POLICY_PRINCIPAL_PATTERN,
} from "../gateway/policy/policy_schema.ts";
import { loadPolicyFile } from "../gateway/policy/load_policy.ts";
import {
  type Policy,
  POLICY_TOOLS,
  type PolicyDecision,
  type PolicyRequest,
  type PolicyTool,
} from "../gateway/policy/policy.ts";
import { PolicyError } from "../gateway/policy/policy_error.ts";
import { complain, say, UsageError } from "./_cli.ts";

const USAGE =
  `usage: deno task policy explain --principal P --tool T [--safe S] [--object O] [--host H] [--command C] [--group G ...] [--file F]
       deno task policy check [--file F]

explain  says whether the policy allows the call and by which rule; exit 0 when
         allowed, 1 when denied or an approval is required
check    validates the policy file and prints its rule count and SHA-256
--tool   one of ${POLICY_TOOLS.join(", ")}
--group  an identity provider group of the principal (OAUTH_GROUPS_CLAIM), repeatable
--file   the policy file (default: POLICY_FILE from the environment or .env)`;
const EXIT_DENIED = 1;
const EXIT_USAGE = 2;

interface Cli {
  command: "explain" | "check" | "help";
  file: string | undefined;
  request?: PolicyRequest;
}

function parseCli(args: string[]): Cli {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        principal: { type: "string" },
        tool: { type: "string" },
        safe: { type: "string" },
        object: { type: "string" },
        host: { type: "string" },
        command: { type: "string" },
        group: { type: "string", multiple: true },
        file: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message.split("\n")[0]! : String(error),
    );
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help", file: undefined };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError("no command given");
  if (extra.length > 0) {
    throw new UsageError(`unexpected argument "${extra[0]}"`);
  }
  if (values.file === "") throw new UsageError("--file is empty");
  const file = values.file;
  if (command === "check") {
    const given = [
      "principal",
      "tool",
      "safe",
      "object",
      "host",
      "command",
      "group",
    ]
      .find((name) => values[name as keyof typeof values] !== undefined);
    if (given !== undefined) {
      throw new UsageError(`check takes only --file, not --${given}`);
    }
    return { command, file };
  }
  if (command !== "explain") {
    throw new UsageError(`unknown command "${command}"; use explain or check`);
  }
  const principal = values.principal;
  if (principal === undefined) throw new UsageError("--principal is missing");
  if (!POLICY_PRINCIPAL_PATTERN.test(principal)) {
    throw new UsageError(
      `--principal "${principal}" is not a principal name (1 to 256 letters, digits, '.', '_', '@', '+' or '-')`,
    );
  }
  const groups = values.group ?? [];
  const badGroup = groups.find((group) => !GROUP_NAME_PATTERN.test(group));
  if (badGroup !== undefined) {
    throw new UsageError(`--group "${badGroup}" is not a group name`);
  }
  const tool = values.tool;
  if (tool === undefined) throw new UsageError("--tool is missing");
  if (!(POLICY_TOOLS as readonly string[]).includes(tool)) {
    throw new UsageError(
      `--tool "${tool}" is not a tool; use one of ${POLICY_TOOLS.join(", ")}`,
    );
  }
  if (
    tool === "get_credential" &&
    (values.host !== undefined || values.command !== undefined)
  ) {
    throw new UsageError(
      "get_credential has no host and no command; leave out --host and --command (the target tool is checked on them)",
    );
  }
  return {
    command,
    file,
    request: {
      principal,
      ...(groups.length === 0 ? {} : { groups }),
      tool: tool as PolicyTool,
      safe: values.safe ?? "",
      object: values.object ?? "",
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values.command === undefined ? {} : { command: values.command }),
    },
  };
}

/** The file to read: `--file`, else POLICY_FILE. */
function policyFile(file: string | undefined): string {
  if (file !== undefined) return file;
  // The same resolution as main.ts: ENV_FILE="" reads no file at all.
  const envFile = Deno.env.get("ENV_FILE") ?? ".env";
  const setting = policyFileSetting(envFile === "" ? {} : { envFile });
  if (setting === undefined) {
    throw new UsageError(
      "POLICY_FILE is not set (environment or .env) and no --file was given; pass --file PATH",
    );
  }
  return setting;
}

function verdict(decision: PolicyDecision): string {
  const rule = `rule "${decision.rule}"`;
  switch (decision.effect) {
    case "allow":
      return `ALLOWED by ${rule}${
        decision.readOnly ? " (read-only session)" : ""
      }`;
    case "approve":
      return `APPROVAL REQUIRED by ${rule} (approvals are not available yet: the call is refused)`;
    case "deny":
      return decision.rule === undefined
        ? "DENIED: no rule allows it"
        : `DENIED by ${rule}`;
  }
}

function summary(policy: Policy): string {
  const rules = policy.ruleCount === 1 ? "rule" : "rules";
  return `${policy.ruleCount} ${rules} (sha256 ${policy.sha256})`;
}

function explain(policy: Policy, request: PolicyRequest): number {
  const decision = policy.evaluate(request);
  say(verdict(decision));
  say(
    `matching rules: ${
      decision.matched.length === 0
        ? "none"
        : decision.matched.map((name) => `"${name}"`).join(", ")
    }`,
  );
  if (request.tool === "get_credential") {
    say(
      "note: hosts and commands of allow rules are checked again when the handle is used",
    );
  }
  say(`policy: ${policy.source}, ${summary(policy)}`);
  return decision.effect === "allow" ? 0 : EXIT_DENIED;
}

function main(args: string[]): number {
  try {
    const cli = parseCli(args);
    if (cli.command === "help") {
      say(USAGE);
      return 0;
    }
    const policy = loadPolicyFile(policyFile(cli.file));
    if (cli.command === "check") {
      say(`Policy OK: ${summary(policy)}`);
      return 0;
    }
    return explain(policy, cli.request!);
  } catch (error) {
    if (error instanceof UsageError) {
      complain(`${error.message}\n${USAGE}`);
    } else if (error instanceof PolicyError || error instanceof ConfigError) {
      complain(error.message);
    } else {
      throw error;
    }
    return EXIT_USAGE;
  }
}

if (import.meta.main) Deno.exit(main(Deno.args));
