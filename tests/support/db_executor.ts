/**
 * Runs one database operation through the real {@linkcode ExecutorSpawner},
 * so each executor runs with exactly its production sandbox flags.
 *
 * @module
 */
import type {
  DbCell,
  DbResult,
  ExecutorFailure,
  MssqlTls,
  MysqlTls,
  PostgresTls,
} from "../../executors/protocol/mod.ts";
import {
  type ExecutorOutcome,
  ExecutorSpawner,
  type SpawnFunction,
} from "../../executors/spawner/mod.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";

/** The peak resident memory of one child, as `/proc/<pid>/status` showed it. */
export interface ChildPeak {
  /** The child's entry module file name, e.g. `mysql_executor.ts`. */
  readonly module: string;
  readonly pid: number;
  /** `VmHWM` at the last read before the child exited (MiB). */
  peakMb: number;
}

/**
 * Wraps the real spawn and reads each child's `VmHWM` (the kernel's
 * high-water mark of its resident memory) every 20 ms until it exits.
 */
export class PeakRssRecorder {
  /** Every child spawned, in order. */
  readonly children: ChildPeak[] = [];

  /** The spawn function to give an {@linkcode ExecutorSpawner}. */
  readonly spawn: SpawnFunction = (command, options) => {
    const child = new Deno.Command(command, options).spawn();
    const args = options.args as string[];
    const peak: ChildPeak = {
      module: (args.at(-1) ?? "").split("/").pop() ?? "",
      pid: child.pid,
      peakMb: 0,
    };
    this.children.push(peak);
    let running = true;
    child.status.finally(() => running = false);
    const read = async (): Promise<void> => {
      while (running) {
        try {
          const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
          const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
          if (running && kb !== undefined) {
            peak.peakMb = Math.max(peak.peakMb, Number(kb) / 1024);
          }
        } catch {
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    void read();
    return child;
  };

  /** The last child spawned (fails the test when there is none). */
  last(): ChildPeak {
    const peak = this.children.at(-1);
    assert(peak !== undefined, "no executor was spawned");
    return peak;
  }
}

/** Every executor the shared {@linkcode spawner} started, with its peak memory. */
export const peaks = new PeakRssRecorder();

/** One spawner for a whole test file. */
export const spawner = new ExecutorSpawner({
  maxConcurrent: 4,
  spawn: peaks.spawn,
});

/** What to run, where, as whom. */
export interface DbCall {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  query: string;
  /** Run read-only, enforced by the database (default false). */
  readOnly?: boolean;
  maxRows?: number;
  maxCellChars?: number;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

/** Where a call goes and as whom: a database fixture. */
export type DbTarget = Pick<
  DbCall,
  "host" | "port" | "username" | "password" | "database"
>;

/** Builds calls of one query each against a fixture's database and account. */
export function callsFor(
  target: DbTarget,
): (query: string, extra?: Partial<DbCall>) => DbCall {
  return (query, extra = {}) => ({
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    database: target.database,
    query,
    ...extra,
  });
}

/** The TLS settings of each database kind. */
export interface DbTlsOf {
  /** PostgreSQL: libpq's sslmode and CA. */
  postgres: PostgresTls;
  /** MySQL / MariaDB: the ssl-mode and CA. */
  mysql: MysqlTls;
  /** SQL Server: encrypt, trust-server-certificate and CA. */
  mssql: MssqlTls;
}

/** A database kind an executor serves. */
export type DbKind = keyof DbTlsOf;

/** Runs one operation of `kind` with its TLS settings. */
export function runDb<K extends DbKind>(
  kind: K,
  call: DbCall,
  tls: DbTlsOf[K],
): Promise<ExecutorOutcome> {
  const common = {
    database: call.database,
    query: call.query,
    readOnly: call.readOnly ?? false,
    maxRows: call.maxRows ?? 1000,
    maxCellChars: call.maxCellChars ?? 2000,
  };
  const engine: DbKind = kind;
  const operation = engine === "postgres"
    ? { kind: engine, ...common, tls: tls as PostgresTls }
    : engine === "mysql"
    ? { kind: engine, ...common, tls: tls as MysqlTls }
    : { kind: engine, ...common, tls: tls as MssqlTls };
  return spawner.run({
    target: { host: call.host, port: call.port },
    credential: {
      username: call.username,
      kind: "password",
      secret: { reveal: () => call.password },
    },
    operation,
    timeoutMs: call.timeoutMs ?? 15_000,
    maxOutputBytes: call.maxOutputBytes ?? 1024 * 1024,
  });
}

/** The result of a successful outcome (fails the test otherwise). */
export function resultOf(outcome: ExecutorOutcome): DbResult {
  assert(
    outcome.ok,
    `expected success, got ${JSON.stringify(outcome).slice(0, 600)}`,
  );
  const result = outcome.result;
  assert("resultSets" in result, `not a database result: ${result.kind}`);
  return result;
}

/**
 * The failure of an outcome, checked to have `code` and a message that
 * says each of `says`.
 */
export function failureOf(
  outcome: ExecutorOutcome,
  code: ExecutorFailure["code"],
  says: readonly string[] = [],
): ExecutorFailure {
  assert(
    !outcome.ok,
    `expected ${code}, got ${JSON.stringify(outcome).slice(0, 600)}`,
  );
  assertEquals(outcome.error.code, code, outcome.error.message);
  for (const part of says) assertStringIncludes(outcome.error.message, part);
  return outcome.error;
}

/** The first cell of `column` in the first result set of a successful outcome. */
export function firstCell(
  outcome: ExecutorOutcome,
  column: number,
): DbCell | undefined {
  const row = resultOf(outcome).resultSets[0]?.rows[0];
  assert(row !== undefined, "expected a first row");
  return row[column];
}
