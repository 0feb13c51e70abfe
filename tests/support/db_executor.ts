/**
 * Runs one database operation through the real {@linkcode ExecutorSpawner},
 * so each executor runs with exactly its production sandbox flags.
 *
 * @module
 */
import type {
  DbResult,
  ExecutorFailure,
  MssqlTls,
  MysqlTls,
  PostgresTls,
} from "../../executors/protocol/mod.ts";
import {
  type ExecutorOutcome,
  ExecutorSpawner,
} from "../../executors/spawner/mod.ts";
import { assert, assertEquals } from "./assert.ts";

/** One spawner for a whole test file. */
export const spawner = new ExecutorSpawner({ maxConcurrent: 4 });

/** What to run, where, as whom. */
export interface DbCall {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  query: string;
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

/** Runs one operation of `kind` with its TLS settings. */
export function runDb(
  kind: "postgres",
  call: DbCall,
  tls: PostgresTls,
): Promise<ExecutorOutcome>;
export function runDb(
  kind: "mysql",
  call: DbCall,
  tls: MysqlTls,
): Promise<ExecutorOutcome>;
export function runDb(
  kind: "mssql",
  call: DbCall,
  tls: MssqlTls,
): Promise<ExecutorOutcome>;
export function runDb(
  kind: "postgres" | "mysql" | "mssql",
  call: DbCall,
  tls: PostgresTls | MysqlTls | MssqlTls,
): Promise<ExecutorOutcome> {
  const common = {
    database: call.database,
    query: call.query,
    maxRows: call.maxRows ?? 1000,
    maxCellChars: call.maxCellChars ?? 2000,
  };
  const operation = kind === "postgres"
    ? { kind, ...common, tls: tls as PostgresTls }
    : kind === "mysql"
    ? { kind, ...common, tls: tls as MysqlTls }
    : { kind, ...common, tls: tls as MssqlTls };
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

/** The failure of an outcome, checked to have `code`. */
export function failureOf(
  outcome: ExecutorOutcome,
  code: ExecutorFailure["code"],
): ExecutorFailure {
  assert(
    !outcome.ok,
    `expected ${code}, got ${JSON.stringify(outcome).slice(0, 600)}`,
  );
  assertEquals(outcome.error.code, code, outcome.error.message);
  return outcome.error;
}
