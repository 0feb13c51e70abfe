/**
 * The Grafana dashboard `deploy/grafana/mcp-privileged-dashboard.json`: it
 * parses; every panel has a title, a unique id and a place on the grid that
 * no other panel takes; every query goes to the `${DS_PROMETHEUS}` data
 * source variable, filters on the `instance` variable, uses only metrics,
 * labels and label values of `gateway/metrics/catalog.ts`, and is PromQL that
 * promtool parses; every metric of the catalogue has a panel.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import { catalogProblems, promqlRefs } from "../support/promql_refs.ts";
import { announcePromtoolSkip, promtool } from "../support/promtool.ts";
import { METRICS } from "../../gateway/metrics/catalog.ts";

const DASHBOARD = "deploy/grafana/mcp-privileged-dashboard.json";
const DS_UID = "${DS_PROMETHEUS}";

interface DataSourceRef {
  type?: string;
  uid?: string;
}

interface Target {
  refId?: string;
  expr?: string;
  datasource?: DataSourceRef;
}

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: DataSourceRef;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: DataSourceRef;
}

interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(
  await Deno.readTextFile(`${PROJECT_ROOT}${DASHBOARD}`),
) as Dashboard;

/** Every panel, those inside collapsed rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const PANELS = allPanels(dashboard.panels);
const QUERY_PANELS = PANELS.filter((p) => p.type !== "row");
const TARGETS = QUERY_PANELS.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p, target: t }))
);

Deno.test("the dashboard has a title, a uid and a current schema version", () => {
  assert(dashboard.title, "no title");
  assert(dashboard.uid, "no uid");
  assert(
    (dashboard.schemaVersion ?? 0) >= 36,
    `schemaVersion ${dashboard.schemaVersion} is older than Grafana 9`,
  );
  assert(QUERY_PANELS.length > 0, "no panels");
});

Deno.test("every panel has a title, a unique id and its own place on the grid", () => {
  const ids = PANELS.map((p) => p.id);
  assert(ids.every((id) => typeof id === "number"), "a panel without an id");
  assertEquals(new Set(ids).size, ids.length, "duplicate panel ids");
  for (const panel of PANELS) {
    assert(panel.title?.trim(), `panel ${panel.id} has no title`);
    const pos = panel.gridPos;
    assert(pos !== undefined, `panel ${panel.title} has no gridPos`);
    assert(
      pos.w > 0 && pos.h > 0 && pos.x >= 0 && pos.y >= 0 && pos.x + pos.w <= 24,
      `panel ${panel.title}: gridPos ${JSON.stringify(pos)} is off the grid`,
    );
  }
  const placed = dashboard.panels; // nested panels of collapsed rows are hidden
  for (const [i, a] of placed.entries()) {
    for (const b of placed.slice(i + 1)) {
      const p = a.gridPos!;
      const q = b.gridPos!;
      const overlap = p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h &&
        q.y < p.y + p.h;
      assert(!overlap, `panels "${a.title}" and "${b.title}" overlap`);
    }
  }
});

Deno.test("every query goes to the DS_PROMETHEUS variable, the data source variable of the dashboard", () => {
  const variable = dashboard.templating.list.find((v) =>
    v.name === "DS_PROMETHEUS"
  );
  assert(variable !== undefined, "no DS_PROMETHEUS variable");
  assertEquals(variable.type, "datasource");
  assertEquals(variable.query, "prometheus");
  for (const panel of QUERY_PANELS) {
    assertEquals(panel.datasource?.uid, DS_UID, `panel ${panel.title}`);
    assert((panel.targets ?? []).length > 0, `panel ${panel.title}: no query`);
  }
  for (const { panel, target } of TARGETS) {
    assertEquals(
      target.datasource?.uid ?? DS_UID,
      DS_UID,
      `panel ${panel.title} query ${target.refId}`,
    );
    assert(target.expr?.trim(), `panel ${panel.title}: empty query`);
  }
});

Deno.test("the instance variable lists the mcp-privileged targets and every query filters on it", () => {
  const variable = dashboard.templating.list.find((v) => v.name === "instance");
  assert(variable !== undefined, "no instance variable");
  assertEquals(variable.datasource?.uid, DS_UID);
  const query = typeof variable.query === "string"
    ? variable.query
    : variable.query?.query ?? "";
  const match = /^label_values\((.+),\s*instance\)$/.exec(query);
  assert(match !== null, `instance variable query: ${query}`);
  assertEquals(catalogProblems(match[1]!), []);
  for (const { panel, target } of TARGETS) {
    for (const { metric, matchers } of promqlRefs(target.expr!).selectors) {
      assert(
        matchers.some((m) =>
          m.label === "instance" && m.op === "=~" && m.value === "$instance"
        ),
        `panel ${panel.title}: ${metric} is not filtered on instance=~"$instance"`,
      );
    }
  }
});

Deno.test("every query uses only metrics, labels and label values of the catalogue", () => {
  const problems = TARGETS.flatMap(({ panel, target }) =>
    catalogProblems(target.expr!).map((p) => `${panel.title}: ${p}`)
  );
  assertEquals(problems, []);
});

Deno.test("every metric of the catalogue has a panel", () => {
  const used = new Set(
    TARGETS.flatMap(({ target }) =>
      promqlRefs(target.expr!).selectors.map((s) =>
        s.metric.replace(/_(bucket|sum|count)$/, "")
      )
    ),
  );
  const missing = Object.values(METRICS).map((m) => m.name).filter((name) =>
    !used.has(name)
  );
  assertEquals(missing, []);
});

const skip = await announcePromtoolSkip();

Deno.test({
  name: "promtool parses every query of the dashboard",
  ignore: skip !== null,
  async fn(): Promise<void> {
    // Grafana's variables become what Grafana would put there; each query
    // becomes a recording rule, which promtool check rules parses.
    const rules = TARGETS.map(({ panel, target }) => ({
      record: `dashboard:panel_${panel.id}_${target.refId}`,
      expr: target.expr!.replaceAll("$__rate_interval", "1m")
        .replaceAll("$instance", ".*"),
    }));
    const dir = await Deno.makeTempDir({ prefix: "dashboard_rules_" });
    try {
      await Deno.writeTextFile(
        `${dir}/rules.yml`,
        JSON.stringify({ groups: [{ name: "dashboard", rules }] }),
      );
      const { code, output } = await promtool(
        ["check", "rules", "rules.yml"],
        dir,
      );
      assertEquals(code, 0, output);
      assert(output.includes(`SUCCESS: ${rules.length} rules found`), output);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
