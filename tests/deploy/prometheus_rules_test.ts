/**
 * The Prometheus files in `deploy/prometheus/`: promtool accepts the alert
 * rules and the example configuration and passes the rules' unit tests (and
 * fails them when an expectation is wrong); every metric, label and label
 * value the rules use is in `gateway/metrics/catalog.ts`; every alert has a
 * severity, a summary, a description and a runbook anchor that the README's
 * "Alert rules" table holds, and is tested firing and quiet.
 */
import { parse } from "yaml";
import { assert, assertEquals } from "../support/assert.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import { catalogProblems } from "../support/promql_refs.ts";
import { announcePromtoolSkip, promtool } from "../support/promtool.ts";

const ALERTS = "deploy/prometheus/alerts.yml";
const ALERTS_TEST = "deploy/prometheus/alerts_test.yml";
const CONFIG = "deploy/prometheus/prometheus.yml";
const SEVERITIES = ["critical", "warning", "info"];

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

interface UnitTests {
  rule_files: string[];
  tests: {
    alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

const read = (path: string): Promise<string> =>
  Deno.readTextFile(`${PROJECT_ROOT}${path}`);

async function alertRules(): Promise<AlertRule[]> {
  const file = parse(await read(ALERTS)) as RuleFile;
  return file.groups.flatMap((group) => group.rules);
}

const skip = await announcePromtoolSkip();

Deno.test({
  name: "promtool check rules accepts deploy/prometheus/alerts.yml",
  ignore: skip !== null,
  async fn(): Promise<void> {
    const { code, output } = await promtool(["check", "rules", ALERTS]);
    assertEquals(code, 0, output);
    assert(/SUCCESS: \d+ rules found/.test(output), output);
  },
});

Deno.test({
  name: "promtool test rules passes deploy/prometheus/alerts_test.yml",
  ignore: skip !== null,
  async fn(): Promise<void> {
    const { code, output } = await promtool(["test", "rules", ALERTS_TEST]);
    assertEquals(code, 0, output);
    assert(output.includes("SUCCESS"), output);
  },
});

Deno.test({
  name:
    "promtool test rules fails when an expected label or annotation is wrong",
  ignore: skip !== null,
  async fn(): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "alerts_test_" });
    try {
      await Deno.copyFile(`${PROJECT_ROOT}${ALERTS}`, `${dir}/alerts.yml`);
      const tests = await read(ALERTS_TEST);
      const mutations: [string, string][] = [
        ['severity: "critical"', 'severity: "warning"'],
        ["gw-1:9464 (invalid_or_missing_api_key)", "gw-2:9464 (…)"],
      ];
      for (const [from, to] of mutations) {
        assert(tests.includes(from), `${ALERTS_TEST} has no ${from}`);
        await Deno.writeTextFile(
          `${dir}/alerts_test.yml`,
          tests.replace(from, to),
        );
        const { code, output } = await promtool(
          ["test", "rules", "alerts_test.yml"],
          dir,
        );
        assert(code !== 0, `promtool passed with ${to}:\n${output}`);
        assert(output.includes("FAILED"), output);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "promtool check config accepts deploy/prometheus/prometheus.yml and its rule file",
  ignore: skip !== null,
  async fn(): Promise<void> {
    const { code, output } = await promtool(["check", "config", CONFIG]);
    assertEquals(code, 0, output);
    assert(output.includes("1 rule files found"), output);
  },
});

Deno.test("the example config scrapes job mcp-privileged and loads alerts.yml", async () => {
  const config = parse(await read(CONFIG)) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      static_configs: { targets: string[] }[];
    }[];
  };
  assertEquals(config.rule_files, ["alerts.yml"]);
  const job = config.scrape_configs.find((j) =>
    j.job_name === "mcp-privileged"
  );
  assert(job !== undefined, "no scrape job mcp-privileged");
  assertEquals(job.static_configs[0]?.targets, ["127.0.0.1:9464"]);
});

Deno.test("every alert uses only metrics, labels and label values of the catalogue", async () => {
  const problems = (await alertRules()).flatMap((rule) =>
    catalogProblems(rule.expr).map((p) => `${rule.alert}: ${p}`)
  );
  assertEquals(problems, []);
});

Deno.test("every alert has a severity, summary, description and a README runbook anchor", async () => {
  const readme = await read("README.md");
  const rules = await alertRules();
  assert(rules.length > 0);
  const names = rules.map((r) => r.alert);
  assertEquals(new Set(names).size, names.length, "duplicate alert names");
  for (const rule of rules) {
    const where = `alert ${rule.alert}`;
    assert(
      SEVERITIES.includes(rule.labels?.severity ?? ""),
      `${where}: severity`,
    );
    const { summary, description, runbook_url: runbook } = rule.annotations ??
      {};
    assert(summary, `${where}: no summary`);
    assert(description, `${where}: no description`);
    assert(
      /\{\{ \$(value|labels\.\w+)\b/.test(summary + description),
      `${where}: the summary or description names no $value or $labels`,
    );
    const anchor = `alert-${rule.alert.toLowerCase()}`;
    assertEquals(runbook, `README.md#${anchor}`, `${where}: runbook_url`);
    assert(
      readme.includes(`<a id="${anchor}"></a>`),
      `${where}: README.md has no <a id="${anchor}"></a>`,
    );
  }
});

Deno.test("the README's alert table lists every alert with its severity", async () => {
  const readme = await read("README.md");
  const section = readme.slice(
    readme.indexOf("### Alert rules"),
    readme.indexOf("## 13. Troubleshooting"),
  );
  for (const rule of await alertRules()) {
    const row = section.split("\n").find((line) =>
      line.startsWith("|") && line.includes(`\`${rule.alert}\``)
    );
    assert(row !== undefined, `README "Alert rules" has no row ${rule.alert}`);
    assert(
      row.includes(`| ${rule.labels?.severity} `),
      `README row of ${rule.alert} does not say ${rule.labels?.severity}`,
    );
  }
});

Deno.test("every alert is unit-tested both firing and quiet", async () => {
  const tests = parse(await read(ALERTS_TEST)) as UnitTests;
  assertEquals(tests.rule_files, ["alerts.yml"]);
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  const missing: string[] = [];
  for (const { alert } of await alertRules()) {
    const mine = cases.filter((c) => c.alertname === alert);
    if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) {
      missing.push(`${alert} never expected to fire`);
    }
    if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) {
      missing.push(`${alert} never expected quiet`);
    }
  }
  assertEquals(missing, []);
});

Deno.test("alerts aggregate by named labels only, the instance among them", async () => {
  // `without` would keep every other label and a bare sum() would drop job
  // and instance: each aggregation names what it keeps, and the catalogue
  // test above holds those names to bounded labels.
  const unnamed = (await alertRules()).flatMap((rule) =>
    [...rule.expr.matchAll(/\b(sum|max|min|avg|count)\s*(\(|without\b)/g)]
      .map((match) => `${rule.alert}: ${match[0]}`)
  );
  assertEquals(unnamed, []);
  const noInstance = (await alertRules()).flatMap((rule) =>
    [...rule.expr.matchAll(/\bby\s*\(([^)]*)\)/g)]
      .filter((match) => !/\binstance\b/.test(match[1]!))
      .map((match) => `${rule.alert}: ${match[0]}`)
  );
  assertEquals(noInstance, [], "alerts name the replica (by instance)");
});
