/**
 * Reading the Prometheus text format (a scrape of `/metrics`) in tests:
 * each sample's name, labels and value, and the `# TYPE` of each family.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of a scrape. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`Not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(LABEL)) {
      labels[name!] = value!.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The `# TYPE` of every metric family of a scrape. */
export function parseTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    types.set(match[1]!, match[2]!);
  }
  return types;
}

/**
 * The value of the one sample named `name` whose labels include `labels`.
 *
 * @throws {Error} when no sample or more than one matches
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const found = parseSamples(text).filter((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([k, v]) => sample.labels[k] === v)
  );
  if (found.length !== 1) {
    throw new Error(
      `${found.length} samples of ${name} ${
        JSON.stringify(labels)
      } in the scrape`,
    );
  }
  return found[0]!.value;
}
