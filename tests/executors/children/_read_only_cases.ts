/**
 * What the PostgreSQL and MySQL read-only tests share: running a query with
 * `readOnly`, and checking that a refused write left the database as it was,
 * seen through a separate read-write connection (the fixture's admin).
 *
 * @module
 */
import type { DbResult } from "../../../executors/protocol/mod.ts";
import { assertEquals } from "../../support/assert.ts";
import type { DbFixture } from "../../support/databases.ts";
import {
  callsFor,
  failureOf,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import type { OpenEngine } from "./_db_cases.ts";

/** An engine whose state a test can read back through its administrator. */
export interface ReadOnlyEngine<K extends "postgres" | "mysql"> {
  /** The engine on its own fixture. */
  engine: OpenEngine<K>;
  /**
   * SQL the administrator runs to read everything a write could change
   * (rows, tables, routines, sequences), as one row.
   */
  stateQuery: string;
}

/** The state {@linkcode ReadOnlyEngine.stateQuery} reads, as JSON. */
export async function stateOf<K extends "postgres" | "mysql">(
  ro: ReadOnlyEngine<K>,
): Promise<string> {
  const fixture: DbFixture = ro.engine.fixture;
  return JSON.stringify(await fixture.admin(ro.stateQuery));
}

/** Runs `query` with `readOnly` set as given (default true). */
export function runReadOnly<K extends "postgres" | "mysql">(
  ro: ReadOnlyEngine<K>,
  query: string,
  readOnly = true,
): ReturnType<typeof runDb> {
  const { engine } = ro;
  return runDb(
    engine.kind,
    callsFor(engine.fixture)(query, { readOnly }),
    engine.plain,
  );
}

/**
 * Runs `query` read-only: it must fail as a `driver_error` that says each of
 * `says`, and the state must be what it was before.
 */
export async function assertWriteRefused<K extends "postgres" | "mysql">(
  ro: ReadOnlyEngine<K>,
  query: string,
  says: readonly string[],
): Promise<void> {
  const before = await stateOf(ro);
  failureOf(await runReadOnly(ro, query), "driver_error", says);
  assertEquals(await stateOf(ro), before, `${query} changed the database`);
}

/**
 * Runs `query` read-only: it succeeds (a statement without effect outside
 * the transaction) and the state is what it was before.
 */
export async function assertHarmless<K extends "postgres" | "mysql">(
  ro: ReadOnlyEngine<K>,
  query: string,
): Promise<DbResult> {
  const before = await stateOf(ro);
  const result = resultOf(await runReadOnly(ro, query));
  assertEquals(await stateOf(ro), before, `${query} changed the database`);
  return result;
}
