/**
 * The Prometheus registry of the gateway, built from the catalogue
 * (`catalog.ts`) and nothing else: one prom-client metric per entry, with
 * its name, type, help, label names and buckets.
 *
 * Cardinality is bounded here, for every update: each label value is
 * checked against its closed set; a value outside it is recorded as
 * `other` where the set has `other`, and otherwise the update is dropped
 * (with a debug line), so no series outside the catalogue ever appears.
 * Every counter and histogram starts with all its label combinations at 0,
 * so rates and alerts see a series from the first scrape.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { METRICS, type MetricSpec, type MetricType } from "./catalog.ts";

const log = getLogger(["gateway", "metrics"]);

/** The key of a metric in the catalogue. */
export type MetricKey = keyof typeof METRICS;

/** The keys of the metrics of one type. */
export type MetricKeyOf<T extends MetricType> = {
  [K in MetricKey]: typeof METRICS[K]["type"] extends T ? K : never;
}[MetricKey];

/** The labels of a metric, each a string (bounded when recorded). */
export type LabelsOf<K extends MetricKey> = {
  readonly [L in keyof typeof METRICS[K]["labels"] & string]: string;
};

/** A label value set by the service itself (a label with no closed set: `version`). */
const SERVICE_VALUE = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

/**
 * The value recorded for `value` of a label whose closed set is `allowed`:
 * the value itself when in the set, else `other` when the set has it, else
 * undefined (not recorded). An empty set is a label the service fills
 * itself: a short token, else `other`.
 */
export function boundLabel(
  allowed: readonly string[],
  value: string,
): string | undefined {
  if (allowed.length === 0) return SERVICE_VALUE.test(value) ? value : "other";
  if (allowed.includes(value)) return value;
  return allowed.includes("other") ? "other" : undefined;
}

/** The labels as recorded, or undefined when one has no place in its set. */
function boundLabels(
  spec: MetricSpec,
  labels: Readonly<Record<string, string>>,
): Record<string, string> | undefined {
  const bound: Record<string, string> = {};
  for (const [name, allowed] of Object.entries(spec.labels)) {
    const value = labels[name];
    const recorded = value === undefined
      ? undefined
      : boundLabel(allowed, value);
    if (recorded === undefined) {
      log.debug("Metric {metric}: {label} value not in its set, dropped", {
        metric: spec.name,
        label: name,
      });
      return undefined;
    }
    bound[name] = recorded;
  }
  return bound;
}

/** Every combination of the closed label sets of a metric. */
function labelCombinations(spec: MetricSpec): Record<string, string>[] {
  let combinations: Record<string, string>[] = [{}];
  for (const [name, allowed] of Object.entries(spec.labels)) {
    if (allowed.length === 0) return [];
    combinations = combinations.flatMap((combination) =>
      allowed.map((value) => ({ ...combination, [name]: value }))
    );
  }
  return combinations;
}

type AnyMetric =
  | Counter<string>
  | Gauge<string>
  | Histogram<string>;

/** A gauge's value read at scrape time; undefined leaves it as it was. */
export type GaugeSource = () => number | undefined;

/** The gateway's metrics: every catalogue entry, updated only through bounded labels. */
export class GatewayMetrics {
  /** The prom-client registry (text format via {@linkcode GatewayMetrics.scrape}). */
  readonly registry: Registry = new Registry();
  readonly #metrics = new Map<MetricKey, AnyMetric>();
  readonly #sources = new Map<MetricKey, GaugeSource>();

  /** Builds every metric of the catalogue, counters and histograms at 0. */
  constructor() {
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const spec: MetricSpec = METRICS[key];
      const common = {
        name: spec.name,
        help: spec.help,
        labelNames: Object.keys(spec.labels),
        registers: [this.registry],
      };
      switch (spec.type) {
        case "counter": {
          const counter = new Counter(common);
          for (const labels of labelCombinations(spec)) counter.inc(labels, 0);
          this.#metrics.set(key, counter);
          break;
        }
        case "histogram": {
          const histogram = new Histogram({
            ...common,
            buckets: [...(spec.buckets ?? [])],
          });
          for (const labels of labelCombinations(spec)) {
            histogram.zero(labels);
          }
          this.#metrics.set(key, histogram);
          break;
        }
        case "gauge": {
          const sources = this.#sources;
          this.#metrics.set(
            key,
            new Gauge({
              ...common,
              collect(): void {
                const value = sources.get(key)?.();
                if (value !== undefined) this.set(value);
              },
            }),
          );
          break;
        }
      }
    }
  }

  /** Adds `value` (default 1) to a counter. */
  inc<K extends MetricKeyOf<"counter">>(
    key: K,
    labels: LabelsOf<K>,
    value = 1,
  ): void {
    const bound = boundLabels(METRICS[key], labels);
    if (bound !== undefined) {
      (this.#metrics.get(key) as Counter<string>).inc(bound, value);
    }
  }

  /** Records one observation of a histogram, in seconds. */
  observe<K extends MetricKeyOf<"histogram">>(
    key: K,
    labels: LabelsOf<K>,
    seconds: number,
  ): void {
    const bound = boundLabels(METRICS[key], labels);
    if (bound !== undefined && Number.isFinite(seconds) && seconds >= 0) {
      (this.#metrics.get(key) as Histogram<string>).observe(bound, seconds);
    }
  }

  /** Sets a gauge now. */
  set<K extends MetricKeyOf<"gauge">>(
    key: K,
    labels: LabelsOf<K>,
    value: number,
  ): void {
    const bound = boundLabels(METRICS[key], labels);
    if (bound !== undefined) {
      (this.#metrics.get(key) as Gauge<string>).set(bound, value);
    }
  }

  /** Reads an unlabelled gauge from `source` at every scrape. */
  gaugeFrom(key: MetricKeyOf<"gauge">, source: GaugeSource): void {
    this.#sources.set(key, source);
  }

  /** The Prometheus text format's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}
