/**
 * The one logger module: configures LogTape so that every line on stdout is
 * either a flat JSON object (`LOG_FORMAT=json`, for the SIEM) or a readable
 * console line. Libraries and the vault log through `getLogger()`; this file
 * decides where lines go and what they look like, replaces any live
 * handle in a line with its id (`redact_handles.ts`), and, given the audit
 * chain's settings, seals every audit line into the chain
 * (`audit_chain/`) after that, so a line's MAC covers it as written.
 *
 * @module
 */
import {
  configureSync,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";
import {
  AUDIT_CHAIN_FIELDS,
  AuditChain,
  startAuditChain,
  stopAuditChain,
} from "./audit_chain/mod.ts";
import type { AuditChainConfig, LogLevelName } from "./config/mod.ts";
import { redactHandles } from "./redact_handles.ts";

/** Keys every JSON line starts with; properties cannot overwrite them. */
const RESERVED = new Set(["event", "logger", "level", "timestamp"]);
/** An audit line's properties cannot pose as its chain fields either. */
const AUDIT_RESERVED = new Set([...RESERVED, ...AUDIT_CHAIN_FIELDS]);

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  format: "json" | "console";
  level: LogLevelName;
  /** Where lines go; defaults to stdout (synchronous writes, nothing buffered). */
  write?: (line: string) => void;
  /**
   * Chain every audit line (`seq`, `chain`, `segment`; with a key also
   * `prev` and `mac`) and write `audit_chain_started` first; without it
   * audit lines carry no chain fields (tests).
   */
  auditChain?: AuditChainConfig;
}

/** Configures logging for the whole process (idempotent). */
export function setupLogging(options: LoggingOptions): void {
  const write = options.write ?? writeStdout;
  const format = options.format === "json" ? formatJson : formatConsole;
  stopAuditChain();
  const settings = options.auditChain;
  const chain = settings === undefined ? undefined : new AuditChain({
    replica: settings.replica,
    ...(settings.key === undefined ? {} : { key: settings.key }),
  });
  // Sealed after formatting (redaction included): the MAC covers the bytes written.
  const sink: Sink = (record) =>
    write(
      chain !== undefined && isAuditRecord(record)
        ? chain.seal(format(record), options.format)
        : format(record),
    );
  resetSync();
  configureSync({
    reset: true,
    sinks: { out: sink },
    loggers: [
      { category: [], lowestLevel: options.level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
  if (chain !== undefined) startAuditChain(chain, settings!.checkpointSeconds);
}

function isAuditRecord(record: LogRecord): boolean {
  return record.category.length === 1 && record.category[0] === "audit";
}

function reservedKeys(record: LogRecord): ReadonlySet<string> {
  return isAuditRecord(record) ? AUDIT_RESERVED : RESERVED;
}

const encoder = new TextEncoder();

function writeStdout(line: string): void {
  const bytes = encoder.encode(line);
  let offset = 0;
  while (offset < bytes.length) {
    offset += Deno.stdout.writeSync(bytes.subarray(offset));
  }
}

/** Renders a record's message with its values (a Secret renders as `[redacted]`). */
function renderMessage(record: LogRecord): string {
  return record.message.map((part, index) =>
    index % 2 === 0
      ? String(part)
      : typeof part === "string"
      ? part
      : safeJson(part)
  ).join("");
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** One flat JSON object per line, as the operations manual's section 11 shows. */
export function formatJson(record: LogRecord): string {
  const line: Record<string, unknown> = {
    event: renderMessage(record),
    logger: record.category.join("."),
    level: record.level,
    timestamp: new Date(record.timestamp).toISOString(),
  };
  const reserved = reservedKeys(record);
  for (const [key, value] of Object.entries(record.properties)) {
    if (!reserved.has(key)) {
      line[key] = value instanceof Error ? errorFields(value) : value;
    }
  }
  // Last step before the line leaves: no live handle in any field.
  return redactHandles(`${safeJson(line)}\n`);
}

/** `TIMESTAMP LEVEL logger event key=value ...` for people. */
export function formatConsole(record: LogRecord): string {
  const reserved = reservedKeys(record);
  const fields = Object.entries(record.properties)
    .filter(([key]) => !reserved.has(key))
    .map(([key, value]) =>
      `${key}=${
        typeof value === "string" && !/\s/.test(value) ? value : safeJson(value)
      }`
    );
  return redactHandles(
    `${new Date(record.timestamp).toISOString()} ${
      record.level.toUpperCase().padEnd(7)
    } ${record.category.join(".")} ${renderMessage(record)}${
      fields.length > 0 ? ` ${fields.join(" ")}` : ""
    }\n`,
  );
}

function errorFields(error: Error): Record<string, string> {
  return { name: error.name, message: error.message };
}
