/**
 * The one logger module: configures LogTape so that every line on stdout is
 * either a flat JSON object (`LOG_FORMAT=json`, for the SIEM) or a readable
 * console line. Libraries and the vault log through `getLogger()`; this file
 * decides where lines go and what they look like, and replaces any live
 * handle in a line with its id (`redact_handles.ts`).
 *
 * @module
 */
import {
  configureSync,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";
import type { LogLevelName } from "./config/mod.ts";
import { redactHandles } from "./redact_handles.ts";

/** Keys every JSON line starts with; properties cannot overwrite them. */
const RESERVED = new Set(["event", "logger", "level", "timestamp"]);

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  format: "json" | "console";
  level: LogLevelName;
  /** Where lines go; defaults to stdout (synchronous writes, nothing buffered). */
  write?: (line: string) => void;
}

/** Configures logging for the whole process (idempotent). */
export function setupLogging(options: LoggingOptions): void {
  const write = options.write ?? writeStdout;
  const format = options.format === "json" ? formatJson : formatConsole;
  const sink: Sink = (record) => write(format(record));
  resetSync();
  configureSync({
    reset: true,
    sinks: { out: sink },
    loggers: [
      { category: [], lowestLevel: options.level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
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
  for (const [key, value] of Object.entries(record.properties)) {
    if (!RESERVED.has(key)) {
      line[key] = value instanceof Error ? errorFields(value) : value;
    }
  }
  // Last step before the line leaves: no live handle in any field.
  return redactHandles(`${safeJson(line)}\n`);
}

/** `TIMESTAMP LEVEL logger event key=value ...` for people. */
export function formatConsole(record: LogRecord): string {
  const fields = Object.entries(record.properties)
    .filter(([key]) => !RESERVED.has(key))
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
