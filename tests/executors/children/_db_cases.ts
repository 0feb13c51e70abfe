/**
 * What the MySQL and PostgreSQL executor tests share: the test frame, the
 * machine's fixture or a TLS server of the tests' own for the test to use,
 * the cases run against the machine's fixture, to which each engine passes
 * what its server says, and the check of a query cut at the result-set cap
 * (the SQL Server test uses it too).
 *
 * @module
 */
import {
  type DbResult,
  type DbResultSet,
  type DbResultSetsCut,
  MAX_RESULT_SETS,
} from "../../../executors/protocol/mod.ts";
import type { ExecutorOutcome } from "../../../executors/spawner/mod.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import {
  type DbFixture,
  NUMBER_ROWS,
  PEOPLE,
  type PrivateDbServer,
} from "../../support/databases.ts";
import {
  callsFor,
  type DbCall,
  type DbTarget,
  type DbTlsOf,
  failureOf,
  peaks,
  resultOf,
  runDb,
  spawner,
} from "../../support/db_executor.ts";
import { freePort } from "../../support/free_port.ts";
import {
  createTlsFixtures,
  type TlsFixtures,
} from "../../support/tls_fixtures.ts";

/** An engine of the shared cases: its kind, its fixture, its clear-text TLS settings. */
export interface SqlEngine<K extends "postgres" | "mysql"> {
  /** The executor and result kind. */
  kind: K;
  /** The machine's database fixture (with `people`, `numbers`, `notes`, `hidden`). */
  fixture: DbTarget;
  /** TLS settings that do not use TLS. */
  plain: DbTlsOf[K];
}

/** What an engine's server says when a query fails, one list of message parts a case. */
export interface ServerErrors {
  /** `SELEC 1`. */
  syntax: readonly string[];
  /** `SELECT * FROM hidden`, a table the account may not read. */
  denied: readonly string[];
  /** A database that does not exist. */
  missing: readonly string[];
}

/** A TLS setting that must refuse a clear-text server, and one that falls back. */
export interface ClearTextFallback<K extends "postgres" | "mysql"> {
  /** Settings that require a verified TLS session. */
  strict: DbTlsOf[K];
  /** What the refusal says. */
  refusal: readonly string[];
  /** Settings that prefer TLS but accept clear text. */
  preferred: DbTlsOf[K];
  /** A query for the session's TLS state. */
  query: string;
  /** What the query returns on a clear-text session. */
  rows: DbResultSet["rows"];
}

/** A database executor test's name, and why it is skipped (or null). */
export interface DbTestOptions {
  /** The test's name. */
  name: string;
  /** The reason the machine cannot run it, or null. */
  skip: string | null;
}

/**
 * Registers a database executor test: ignored when `skip` names a reason,
 * without the sanitizers (the spawner's children and the fixtures' pools
 * outlive a step).
 */
export function dbTest(
  test: DbTestOptions,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name: test.name,
    ignore: test.skip !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/** An engine on a machine fixture of its own, dropped when disposed. */
export interface OpenEngine<K extends "postgres" | "mysql">
  extends SqlEngine<K>, AsyncDisposable {
  /** The fixture, with its password and database name. */
  fixture: DbFixture;
}

/** An engine's kind and clear-text TLS settings. */
export type EngineSettings<K extends "postgres" | "mysql"> = Pick<
  SqlEngine<K>,
  "kind" | "plain"
>;

/** Creates a fixture with `create` and an engine over it (`await using`). */
export async function openEngine<K extends "postgres" | "mysql">(
  settings: EngineSettings<K>,
  create: () => Promise<DbFixture>,
): Promise<OpenEngine<K>> {
  const fixture = await create();
  return {
    ...settings,
    fixture,
    [Symbol.asyncDispose]: () => fixture.drop(),
  };
}

/** A server of the tests' own with a certificate of a fresh test CA. */
export interface TlsServer extends AsyncDisposable {
  /** The running server. */
  server: PrivateDbServer;
  /** The test CA's certificate (PEM). */
  ca: string;
}

/** Starts a server with `start` and a fresh test CA; stopped when disposed. */
export async function startTlsServer(
  start: (tls: TlsFixtures) => Promise<PrivateDbServer>,
): Promise<TlsServer> {
  const tls = createTlsFixtures();
  const server = await start(tls);
  return {
    server,
    ca: tls.caCertPem,
    [Symbol.asyncDispose]: () => server.stop(),
  };
}

function run<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
  query: string,
  extra: Partial<DbCall> = {},
): Promise<ExecutorOutcome> {
  return runDb(
    engine.kind,
    callsFor(engine.fixture)(query, extra),
    engine.plain,
  );
}

/**
 * Reads `people` with cells cut at 100 characters and checks each cell's
 * text (NULL, ISO dates, binary as hex, unicode, a cut long cell).
 */
export async function assertPeopleAsText<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
): Promise<DbResult> {
  const result = resultOf(
    await run(engine, "SELECT * FROM people ORDER BY id", {
      maxCellChars: 100,
    }),
  );
  assertEquals(result.kind, engine.kind);
  const [set] = result.resultSets;
  assertEquals(set!.columns, ["id", "name", "born", "seen", "photo", "note"]);
  assertEquals(set!.rows[0], [
    "1",
    PEOPLE.unicodeName,
    PEOPLE.born,
    PEOPLE.seen,
    PEOPLE.photoHex,
    "first",
  ]);
  assertEquals(set!.rows[1], ["2", null, null, null, null, null]);
  assertEquals(set!.rows[2]![5], {
    text: "x".repeat(100),
    textTruncated: true,
    chars: PEOPLE.longNoteChars,
  });
  return result;
}

/** Reads `numbers` with `maxRows: 10`: ten rows kept, all counted. */
export async function assertRowCap<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
): Promise<DbResultSet> {
  const [set] = resultOf(
    await run(engine, "SELECT n FROM numbers ORDER BY n", { maxRows: 10 }),
  ).resultSets;
  assertEquals(set!.rows.length, 10);
  assertEquals(set!.rowCount, NUMBER_ROWS);
  assertEquals(set!.rowsTruncated, "max_rows");
  return set!;
}

/** Checks that the `notes` cell holding the password came back redacted. */
export function assertNoteRedacted(outcome: ExecutorOutcome): void {
  assertEquals(resultOf(outcome).resultSets[0]!.rows, [[
    "db password is [REDACTED]",
  ]]);
}

/** Reads `notes`, whose one cell holds the account's password, in clear text. */
export async function assertPasswordRedacted<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
): Promise<void> {
  assertNoteRedacted(await run(engine, "SELECT note FROM notes"));
}

/**
 * Checks the server's own errors (syntax, permission, unknown database) and
 * a refused connection.
 */
export async function assertServerErrors<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
  says: ServerErrors,
): Promise<void> {
  failureOf(await run(engine, "SELEC 1"), "driver_error", says.syntax);
  failureOf(
    await run(engine, "SELECT * FROM hidden"),
    "driver_error",
    says.denied,
  );
  failureOf(
    await run(engine, "SELECT 1", {
      database: `${engine.fixture.database}_nope`,
    }),
    "driver_error",
    says.missing,
  );
  failureOf(
    await run(engine, "SELECT 1", { port: freePort() }),
    "connection_failed",
    ["ECONNREFUSED"],
  );
}

/** A statement that sleeps for 30 s, and what the server says when it stops it. */
export interface SleepingStatement {
  /** The statement. */
  query: string;
  /** What the timeout message holds. */
  says: readonly string[];
}

/** Runs `sleeping` with a 2 s limit: the server stops it and says so. */
export async function assertStatementCut<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
  sleeping: SleepingStatement,
): Promise<void> {
  const started = Date.now();
  failureOf(
    await run(engine, sleeping.query, { timeoutMs: 2000 }),
    "timeout",
    sleeping.says,
  );
  // The statement sleeps 30 s: an answer in half that means it was cut,
  // with room for a loaded machine.
  assert(Date.now() - started < 15_000, "the statement was not cut");
}

/** Against the clear-text fixture: `strict` is refused, `preferred` falls back. */
export async function assertClearTextFallback<K extends "postgres" | "mysql">(
  engine: SqlEngine<K>,
  fallback: ClearTextFallback<K>,
): Promise<void> {
  const call = callsFor(engine.fixture);
  failureOf(
    await runDb(engine.kind, call("SELECT 1"), fallback.strict),
    "tls_failed",
    fallback.refusal,
  );
  const preferred = resultOf(
    await runDb(engine.kind, call(fallback.query), fallback.preferred),
  );
  assertEquals(preferred.resultSets[0]!.rows, fallback.rows);
}

/** A column name of 85 characters, as in the security review's repro. */
export function longName(letter: string): string {
  return letter.repeat(85);
}

/**
 * Checks the outcome of a query with far more result sets than
 * {@linkcode MAX_RESULT_SETS}: a result with exactly that many, cut for
 * `max_result_sets` with the rest of the query ended as `rest`, and an
 * executor whose peak resident memory (`VmHWM`) stayed under the spawner's
 * memory limit.
 */
export function assertResultSetsCut(
  outcome: ExecutorOutcome,
  rest: DbResultSetsCut["rest"],
): DbResultSetsCut {
  const result = resultOf(outcome);
  assertEquals(result.resultSets.length, MAX_RESULT_SETS);
  const cut = result.resultSetsCut;
  assert(cut !== undefined, "the result does not say it was cut");
  assertEquals([cut.reason, cut.rest], ["max_result_sets", rest]);
  const peak = peaks.last();
  assert(
    peak.peakMb > 0 && peak.peakMb < spawner.maxMemoryMb,
    `the ${peak.module} child peaked at ${
      peak.peakMb.toFixed(1)
    } MiB (limit ${spawner.maxMemoryMb} MiB)`,
  );
  return cut;
}
