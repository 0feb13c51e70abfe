/**
 * What a PromQL expression refers to, and whether the metric catalogue
 * (`gateway/metrics/catalog.ts`) has it: a small tokenizer that finds the
 * metric selectors (`name{label="value",...}`) and grouping labels
 * (`by (...)`, `without (...)`, `on (...)`, ...) of an expression, skipping
 * function names, keywords, numbers, strings and `[...]` ranges; then a check
 * of every name, label and label value against the catalogue.
 *
 * It is not a PromQL parser (promtool checks the syntax); it is strict about
 * names instead: an identifier followed by `(` must be a known function.
 *
 * @module
 */

import { METRICS, type MetricSpec } from "../../gateway/metrics/catalog.ts";

/** One label matcher of a selector. */
export interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** One metric selector: the name and its matchers. */
export interface Selector {
  metric: string;
  matchers: Matcher[];
}

/** The selectors and grouping labels of one expression. */
export interface PromqlRefs {
  selectors: Selector[];
  groupingLabels: string[];
}

/** PromQL aggregation operators and functions (Prometheus 2.x). */
const FUNCTIONS = new Set([
  // aggregations
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  // functions
  "abs",
  "absent",
  "absent_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "days_in_month",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_quantile",
  "holt_winters",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "ln",
  "log2",
  "log10",
  "minute",
  "month",
  "predict_linear",
  "rate",
  "resets",
  "round",
  "scalar",
  "sgn",
  "sort",
  "sort_desc",
  "sqrt",
  "time",
  "timestamp",
  "vector",
  "year",
  "avg_over_time",
  "min_over_time",
  "max_over_time",
  "sum_over_time",
  "count_over_time",
  "quantile_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "last_over_time",
  "present_over_time",
]);

/** Keywords that take a label list in parentheses. */
const GROUPING = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
]);

/** Other keywords and literals that are no metric names. */
const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "atan2",
  "inf",
  "nan",
]);

const IDENT_START = /[A-Za-z_:]/;
const IDENT_PART = /[A-Za-z0-9_:]/;

function skipSpace(text: string, at: number): number {
  while (at < text.length && /\s/.test(text[at]!)) at++;
  return at;
}

/** Index after the string literal that starts at `at`. */
function skipString(text: string, at: number): [string, number] {
  const quote = text[at]!;
  let value = "";
  let i = at + 1;
  while (i < text.length && text[i] !== quote) {
    if (text[i] === "\\" && quote !== "`") {
      value += text[i + 1] ?? "";
      i += 2;
    } else {
      value += text[i];
      i++;
    }
  }
  if (i >= text.length) {
    throw new Error(`Unterminated string at ${at} in: ${text}`);
  }
  return [value, i + 1];
}

function readIdent(text: string, at: number): [string, number] {
  let i = at;
  while (i < text.length && IDENT_PART.test(text[i]!)) i++;
  return [text.slice(at, i), i];
}

/** Parses `{label op "value", ...}` starting at the `{`. */
function readMatchers(text: string, at: number): [Matcher[], number] {
  const matchers: Matcher[] = [];
  let i = at + 1;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] === "}") return [matchers, i + 1];
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (!IDENT_START.test(text[i] ?? "")) {
      throw new Error(`Expected a label name at ${i} in: ${text}`);
    }
    const [label, afterLabel] = readIdent(text, i);
    i = skipSpace(text, afterLabel);
    const op = ["=~", "!~", "!=", "="].find((o) => text.startsWith(o, i));
    if (op === undefined) {
      throw new Error(`Expected a matcher operator at ${i} in: ${text}`);
    }
    i = skipSpace(text, i + op.length);
    if (!`"'\``.includes(text[i] ?? "")) {
      throw new Error(`Expected a quoted label value at ${i} in: ${text}`);
    }
    const [value, afterValue] = skipString(text, i);
    matchers.push({ label, op: op as Matcher["op"], value });
    i = afterValue;
  }
}

/** Parses `(a, b, ...)` starting at the `(`. */
function readLabelList(text: string, at: number): [string[], number] {
  const close = text.indexOf(")", at);
  if (close < 0) throw new Error(`Unclosed label list at ${at} in: ${text}`);
  const labels = text.slice(at + 1, close).split(",").map((l) => l.trim())
    .filter((l) => l !== "");
  return [labels, close + 1];
}

/**
 * The metric selectors and grouping labels of a PromQL expression.
 *
 * @throws {Error} for an unknown function, or a selector it cannot read
 */
export function promqlRefs(expr: string): PromqlRefs {
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      i = skipString(expr, i)[1];
    } else if (c === "[") {
      const close = expr.indexOf("]", i);
      if (close < 0) throw new Error(`Unclosed [ at ${i} in: ${expr}`);
      i = close + 1;
    } else if (/[0-9.]/.test(c)) {
      // a number, possibly with an exponent or a duration unit
      while (i < expr.length && /[0-9A-Za-z_.]/.test(expr[i]!)) {
        if (/[eE]/.test(expr[i]!) && /[+-]/.test(expr[i + 1] ?? "")) i++;
        i++;
      }
    } else if (c === "{") {
      const [matchers, after] = readMatchers(expr, i);
      const name = matchers.find((m) => m.label === "__name__" && m.op === "=");
      if (name === undefined) {
        throw new Error(`A selector without a metric name in: ${expr}`);
      }
      selectors.push({
        metric: name.value,
        matchers: matchers.filter((m) => m !== name),
      });
      i = after;
    } else if (IDENT_START.test(c)) {
      const [word, after] = readIdent(expr, i);
      const next = skipSpace(expr, after);
      const lower = word.toLowerCase();
      if (GROUPING.has(lower)) {
        if (expr[next] === "(") {
          const [labels, afterList] = readLabelList(expr, next);
          groupingLabels.push(...labels);
          i = afterList;
        } else {
          i = after; // group_left without labels
        }
      } else if (KEYWORDS.has(lower)) {
        i = after;
      } else if (FUNCTIONS.has(word)) {
        i = after;
      } else if (expr[next] === "(") {
        throw new Error(`Unknown function ${word} in: ${expr}`);
      } else if (expr[next] === "{") {
        const [matchers, afterMatchers] = readMatchers(expr, next);
        selectors.push({ metric: word, matchers });
        i = afterMatchers;
      } else {
        selectors.push({ metric: word, matchers: [] });
        i = after;
      }
    } else {
      i++; // operators, parentheses, commas
    }
  }
  return { selectors, groupingLabels };
}

/** Labels every scraped series has (added by Prometheus from the target). */
const TARGET_LABELS = ["job", "instance"];

/** The catalogue entry a scraped series name belongs to, and its suffix. */
function catalogEntry(
  metric: string,
): { spec: MetricSpec | null; bucket: boolean } | undefined {
  if (metric === "up") return { spec: null, bucket: false };
  const specs: MetricSpec[] = Object.values(METRICS);
  const exact = specs.find((s) => s.name === metric);
  if (exact !== undefined) return { spec: exact, bucket: false };
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!metric.endsWith(suffix)) continue;
    const base = metric.slice(0, -suffix.length);
    const histogram = specs.find((s) =>
      s.name === base && s.type === "histogram"
    );
    if (histogram !== undefined) {
      return { spec: histogram, bucket: suffix === "_bucket" };
    }
  }
  return undefined;
}

/** Whether a regex matcher value fits the allowed values. */
function regexProblem(value: string, allowed: readonly string[]): string {
  if (/^[A-Za-z0-9_|]+$/.test(value)) {
    const outside = value.split("|").filter((v) => !allowed.includes(v));
    return outside.length === 0 ? "" : `values ${outside.join(", ")}`;
  }
  const pattern = new RegExp(`^(?:${value})$`);
  return allowed.some((v) => pattern.test(v)) ? "" : `regex ${value}`;
}

/**
 * Every way the expression disagrees with the catalogue: an unknown metric, a
 * label the metric does not have, a label value outside its closed set, a
 * grouping label none of its metrics has. Empty when it agrees.
 */
export function catalogProblems(expr: string): string[] {
  const problems: string[] = [];
  const { selectors, groupingLabels } = promqlRefs(expr);
  if (selectors.length === 0) problems.push(`no metric in: ${expr}`);
  const known = new Set(TARGET_LABELS);
  for (const { metric, matchers } of selectors) {
    const entry = catalogEntry(metric);
    if (entry === undefined) {
      problems.push(`${metric} is not in gateway/metrics/catalog.ts`);
      continue;
    }
    const labels: Record<string, readonly string[]> = {
      ...entry.spec?.labels,
    };
    if (entry.bucket) labels.le = [];
    for (const label of Object.keys(labels)) known.add(label);
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.includes(label)) continue;
      const allowed = labels[label];
      if (allowed === undefined) {
        problems.push(`${metric} has no label ${label}`);
        continue;
      }
      if (allowed.length === 0 || value.includes("$")) continue;
      const problem = op === "=" || op === "!="
        ? (allowed.includes(value) ? "" : `value ${value}`)
        : regexProblem(value, allowed);
      if (problem !== "") {
        problems.push(
          `${metric}{${label}${op}"${value}"}: ${problem} outside ${
            allowed.join("|")
          }`,
        );
      }
    }
  }
  for (const label of groupingLabels) {
    if (!known.has(label)) {
      problems.push(`grouping label ${label} is none of its metrics' labels`);
    }
  }
  return problems;
}
