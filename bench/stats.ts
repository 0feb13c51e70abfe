/**
 * Median / p90 table for benchmarks (ratios in one run, never assertions).
 *
 * @module
 */

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil(q * sorted.length) - 1),
  );
  return sorted[index] ?? NaN;
}

/** A Markdown table of median and p90 per case, with the ratio to the fastest median. */
export function summarize(
  samples: Record<string, number[]>,
  n: number,
): string {
  const rows = Object.entries(samples).map(([name, values]) => ({
    name,
    median: quantile(values, 0.5),
    p90: quantile(values, 0.9),
  }));
  const fastest = Math.min(...rows.map((r) => r.median));
  return [
    `n=${n} per case, interleaved, ms`,
    "| case | median | p90 | x fastest median |",
    "|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.name} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} | ${
        (r.median / fastest).toFixed(1)
      } |`
    ),
  ].join("\n");
}
