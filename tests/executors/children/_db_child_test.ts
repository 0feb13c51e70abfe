import { assertEquals } from "../../support/assert.ts";
import { ResultSetCollector } from "../../../executors/children/_db_child.ts";
import { MAX_RESULT_SETS } from "../../../executors/protocol/mod.ts";

const LIMITS = { maxRows: 10, maxCellChars: 100, maxBytes: 1024 * 1024 };

/** Begins and ends `count` empty result sets with these column names. */
function emptySets(
  collector: ResultSetCollector,
  count: number,
  columns: readonly string[],
): void {
  for (let i = 0; i < count; i++) {
    collector.begin(columns);
    collector.end({ command: "SELECT", affectedRows: 0 });
  }
}

Deno.test("ResultSetCollector keeps at most MAX_RESULT_SETS outcomes and counts the rest", () => {
  const collector = new ResultSetCollector(LIMITS);
  emptySets(collector, MAX_RESULT_SETS, ["a"]);
  assertEquals(collector.cut, null);
  assertEquals(collector.resultSetsCut, null);
  emptySets(collector, 5, ["a"]);
  collector.end({ affectedRows: 3 });
  assertEquals(collector.resultSets.length, MAX_RESULT_SETS);
  assertEquals(collector.cut, "max_result_sets");
  assertEquals(collector.resultSetsCut, {
    reason: "max_result_sets",
    rest: "drained",
    dropped: 6,
  });
});

Deno.test("ResultSetCollector counts empty result sets and statements without one", () => {
  const collector = new ResultSetCollector({ ...LIMITS, maxResultSets: 3 });
  collector.begin(["a"]);
  collector.end({});
  collector.end({ affectedRows: 2 });
  collector.begin(["b"]);
  collector.row(["1"]);
  collector.end({});
  assertEquals(
    collector.resultSets.map((s) => [s.columns, s.rows, s.affectedRows]),
    [[["a"], [], null], [[], [], 2], [["b"], [["1"]], null]],
  );
  // A set past the cap: open, its rows ignored, not kept.
  collector.begin(["c"]);
  assertEquals(collector.open, true);
  collector.row(["x"]);
  collector.end({});
  assertEquals(collector.open, false);
  assertEquals(collector.resultSets.length, 3);
  assertEquals(collector.resultSetsCut?.dropped, 1);
});

Deno.test("ResultSetCollector counts column names and each statement against the byte cap", () => {
  // 100 bytes per statement plus 4 + the name per column: 100 + 2 * 104 = 308.
  const name = (letter: string): string => letter.repeat(100);
  const collector = new ResultSetCollector({ ...LIMITS, maxBytes: 1000 });
  emptySets(collector, 4, [name("a"), name("b")]);
  assertEquals(collector.resultSets.length, 3);
  assertEquals(collector.resultSetsCut, {
    reason: "max_bytes",
    rest: "drained",
    dropped: 1,
  });
  // Once cut, even an outcome that would fit is only counted.
  collector.end({ affectedRows: 1 });
  assertEquals(collector.resultSets.length, 3);
  assertEquals(collector.resultSetsCut?.dropped, 2);
});

Deno.test("ResultSetCollector's rows and column names share one byte budget", () => {
  const collector = new ResultSetCollector({ ...LIMITS, maxBytes: 400 });
  collector.begin(["n"]); // 105 bytes
  for (let i = 0; i < 10; i++) collector.row(["x".repeat(50)]); // 54 each
  collector.end({});
  const [set] = collector.resultSets;
  assertEquals([set!.rows.length, set!.rowCount], [5, 10]);
  assertEquals(set!.rowsTruncated, "max_bytes");
  // 105 + 5 * 54 = 375: a further statement (100 bytes) no longer fits.
  collector.end({ affectedRows: 1 });
  assertEquals(collector.resultSets.length, 1);
  assertEquals(collector.cut, "max_bytes");
});

Deno.test("ResultSetCollector reports how a driver stopped the rest of the query", () => {
  const collector = new ResultSetCollector({ ...LIMITS, maxResultSets: 1 });
  emptySets(collector, 3, ["a"]);
  let closes = 0;
  assertEquals(collector.closeWhenCut(() => closes++), true);
  assertEquals(collector.closeWhenCut(() => closes++), true);
  assertEquals([closes, collector.closed], [1, true]);
  assertEquals(collector.resultSetsCut, {
    reason: "max_result_sets",
    rest: "connection_closed",
    dropped: null,
  });
});
