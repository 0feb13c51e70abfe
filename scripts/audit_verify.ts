/**
 * `deno task audit-verify`: checks the audit chain of a gateway log.
 *
 * ```sh
 * deno task audit-verify [--key-file F ...] [--checkpoint CHAIN:SEGMENT:SEQ:MAC ...] [--no-key] FILE... (- for stdin)
 * ```
 *
 * The files are the gateway's stdout as written (`LOG_FORMAT=json`; lines of
 * several replicas may interleave; other lines are ignored), in the order
 * they were written. The key is `--key-file` (repeatable: the old and the
 * new key around a rotation), else AUDIT_CHAIN_KEY or
 * AUDIT_CHAIN_KEY_FILE from the environment or the `.env` file (ENV_FILE,
 * default `.env`), as the service reads it. Exit code: 0 when every segment
 * verifies, 1 when any is broken (the first line that breaks each is named),
 * 2 for a usage error, an unreadable file or key.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { auditChainKeySetting } from "../gateway/config/audit_chain.ts";
import { ConfigError } from "../gateway/config/config_error.ts";
import {
  type ChainCheckpoint,
  formatVerifyReport,
  type LogLine,
  parseCheckpoint,
  verifiedIntact,
  verifyAuditLog,
} from "../gateway/audit_chain/mod.ts";
import type { Secret } from "../vault/secret.ts";
import { complain, say, UsageError } from "./_cli.ts";

const USAGE =
  `usage: deno task audit-verify [--key-file F ...] [--checkpoint CHAIN:SEGMENT:SEQ:MAC ...] [--no-key] FILE...

FILE          the gateway's JSON log as written, oldest file first; - reads stdin
--key-file    a file holding AUDIT_CHAIN_KEY (default: AUDIT_CHAIN_KEY or
              AUDIT_CHAIN_KEY_FILE from the environment or .env); repeatable:
              each segment is checked with the key it was written with
--checkpoint  a line the SIEM kept (its chain, segment, seq and mac fields);
              the log must reach it with that MAC (repeatable)
--no-key      check sequence numbers and prev links only, not the MACs
Exit code: 0 intact, 1 broken (the first bad line of each segment is named), 2 usage`;
const EXIT_BROKEN = 1;
const EXIT_USAGE = 2;

interface Cli {
  help: boolean;
  files: string[];
  keyFiles: string[];
  noKey: boolean;
  checkpoints: ChainCheckpoint[];
}

function parseCli(args: string[]): Cli {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        "key-file": { type: "string", multiple: true },
        "no-key": { type: "boolean", default: false },
        checkpoint: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message.split("\n")[0]! : String(error),
    );
  }
  const { values, positionals } = parsed;
  const cli: Cli = {
    help: values.help,
    files: positionals,
    keyFiles: values["key-file"] ?? [],
    noKey: values["no-key"],
    checkpoints: [],
  };
  if (cli.help) return cli;
  if (cli.files.length === 0) throw new UsageError("no log file given");
  if (cli.keyFiles.includes("")) throw new UsageError("--key-file is empty");
  if (cli.noKey && cli.keyFiles.length > 0) {
    throw new UsageError("--no-key and --key-file exclude each other");
  }
  try {
    cli.checkpoints = (values.checkpoint ?? []).map(parseCheckpoint);
  } catch (error) {
    throw new UsageError(`--checkpoint: ${(error as Error).message}`);
  }
  return cli;
}

/** The keys: each --key-file, else the service's setting; none with --no-key. */
function chainKeys(cli: Cli): Secret[] {
  if (cli.noKey) return [];
  if (cli.keyFiles.length > 0) {
    return cli.keyFiles.map((file) => {
      const key = auditChainKeySetting({
        env: { AUDIT_CHAIN_KEY_FILE: file },
        home: Deno.env.get("HOME") ?? "",
      });
      if (key === undefined) {
        throw new UsageError(
          `--key-file ${file} is empty; give the file that holds the gateway's AUDIT_CHAIN_KEY`,
        );
      }
      return key;
    });
  }
  // The same resolution as main.ts: ENV_FILE="" reads no file at all.
  const envFile = Deno.env.get("ENV_FILE") ?? ".env";
  const key = auditChainKeySetting(envFile === "" ? {} : { envFile });
  if (key === undefined) {
    throw new UsageError(
      "Cannot verify MACs: no key; set AUDIT_CHAIN_KEY or AUDIT_CHAIN_KEY_FILE (environment or .env) as the gateway has it, or pass --key-file FILE; --no-key checks sequence numbers and links only",
    );
  }
  return [key];
}

async function readSource(file: string): Promise<string> {
  if (file === "-") {
    return await new Response(Deno.stdin.readable).text();
  }
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new UsageError(
      `Cannot read ${file}: ${
        error instanceof Error ? error.name : String(error)
      }; give the path of a log file the gateway wrote, or - for stdin`,
    );
  }
}

function* linesOf(source: string, text: string): Generator<LogLine> {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [index, line] of lines.entries()) {
    yield { source, line: index + 1, text: line };
  }
}

async function main(args: string[]): Promise<number> {
  try {
    const cli = parseCli(args);
    if (cli.help) {
      say(USAGE);
      return 0;
    }
    const keys = chainKeys(cli);
    const lines: LogLine[] = [];
    for (const file of cli.files) {
      lines.push(...linesOf(file, await readSource(file)));
    }
    const result = verifyAuditLog(lines, {
      keys,
      checkpoints: cli.checkpoints,
    });
    for (const line of formatVerifyReport(result)) say(line);
    return verifiedIntact(result) ? 0 : EXIT_BROKEN;
  } catch (error) {
    if (error instanceof UsageError) {
      complain(`${error.message}\n${USAGE}`);
    } else if (error instanceof ConfigError) {
      complain(error.message);
    } else {
      throw error;
    }
    return EXIT_USAGE;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
