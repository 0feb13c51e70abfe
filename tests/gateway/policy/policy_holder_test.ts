import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import {
  assertAuditLine,
  captureLogLines,
  LOG_LINE_HEAD,
} from "../../support/log_lines.ts";
import { resetSync } from "@logtape/logtape";
import { setupLogging } from "../../../gateway/logging.ts";
import { loadPolicyFile } from "../../../gateway/policy/load_policy.ts";
import { createPolicyHolder } from "../../../gateway/policy/policy_holder.ts";

const ONE_RULE = [
  "rules:",
  "  - name: first",
  '    principals: ["*"]',
  "    effect: allow",
  "",
].join("\n");
const TWO_RULES = ONE_RULE + [
  "  - name: second",
  "    principals: [bob]",
  "    effect: deny",
  "",
].join("\n");
const BAD = ONE_RULE + [
  "  - name: broken",
  "    principals: [bob]",
  '    hosts: ["10.0.0.0/33"]',
  "    effect: deny",
  "",
].join("\n");

/** Runs `body` with a policy file of `text` in a fresh directory, removed afterwards. */
async function withPolicyFile(
  text: string,
  body: (file: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-" });
  try {
    const file = `${dir}/policy.yaml`;
    await Deno.writeTextFile(file, text);
    await body(file, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `body` with the JSON log lines collected as they are written. */
async function withLiveLogLines(
  body: (lines: Record<string, unknown>[]) => Promise<void>,
): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  setupLogging({
    format: "json",
    level: "info",
    write: (line) => lines.push(JSON.parse(line)),
  });
  try {
    await body(lines);
  } finally {
    resetSync();
  }
  return lines;
}

/** Replaces `file` the way editors and deploy tools do: a new file renamed over it. */
async function replaceByRename(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, file);
}

Deno.test("createPolicyHolder() without POLICY_FILE holds no policy, never reloads and logs nothing", async () => {
  const lines = await captureLogLines(async () => {
    const holder = createPolicyHolder({ file: undefined, policy: undefined });
    holder.start();
    assertEquals(holder.current(), undefined);
    assertEquals(holder.reload("sighup"), false);
    await holder.close();
  });
  assertEquals(lines, []);
});

Deno.test("policyHolder.start() announces the policy in force as policy_loaded, reason start", async () => {
  await withPolicyFile(ONE_RULE, async (file) => {
    const policy = loadPolicyFile(file);
    const lines = await captureLogLines(async () => {
      const holder = createPolicyHolder({ file, policy });
      holder.start();
      await holder.close();
    });
    assertEquals(lines.length, 1);
    assertAuditLine(lines[0]!, "policy_loaded", {
      level: "info",
      fields: ["source", "sha256", "rules", "reason"],
    });
    assertEquals(lines[0]!.source, file);
    assertEquals(lines[0]!.sha256, policy.sha256);
    assertEquals(lines[0]!.rules, 1);
    assertEquals(lines[0]!.reason, "start");
  });
});

Deno.test("policyHolder.reload() swaps in a good new file and audits it", async () => {
  await withPolicyFile(ONE_RULE, async (file) => {
    const holder = createPolicyHolder({ file, policy: loadPolicyFile(file) });
    const lines = await captureLogLines(async () => {
      await Deno.writeTextFile(file, TWO_RULES);
      assert(holder.reload("sighup"));
      await holder.close();
    });
    assertEquals(holder.current()?.ruleCount, 2);
    assertEquals(
      holder.current()?.evaluate({
        principal: "bob",
        tool: "get_credential",
        safe: "S",
        object: "O",
      }).rule,
      "second",
    );
    assertEquals(lines.length, 1);
    assertEquals(lines[0]!.event, "policy_loaded");
    assertEquals(lines[0]!.reason, "sighup");
    assertEquals(lines[0]!.rules, 2);
    assertEquals(lines[0]!.sha256, holder.current()?.sha256);
  });
});

Deno.test("policyHolder.reload() refuses a bad new file: the old policy stays, an error line names file, line and rule", async () => {
  await withPolicyFile(ONE_RULE, async (file) => {
    const before = loadPolicyFile(file);
    const holder = createPolicyHolder({ file, policy: before });
    const lines = await captureLogLines(async () => {
      await Deno.writeTextFile(file, BAD);
      assertEquals(holder.reload("sighup"), false);
      await Deno.remove(file);
      assertEquals(holder.reload("file_change"), false);
      await holder.close();
    });
    assertEquals(holder.current(), before);
    assertEquals(lines.length, 2);
    assertEquals(Object.keys(lines[0]!), [
      ...LOG_LINE_HEAD,
      "source",
      "reason",
      "error",
    ]);
    assertEquals(lines[0]!.event, "policy_reload_failed");
    assertEquals(lines[0]!.logger, "audit");
    assertEquals(lines[0]!.level, "error");
    assertEquals(lines[0]!.source, file);
    assertEquals(lines[0]!.reason, "sighup");
    assertEquals(
      lines[0]!.error,
      `POLICY_FILE ${file} line 7, rule "broken": hosts[0] "10.0.0.0/33" is not a valid CIDR; write an address like 10.20.0.0/16 or fd00::/8`,
    );
    assertEquals(lines[1]!.reason, "file_change");
    assertStringIncludes(String(lines[1]!.error), "cannot be read (not found)");
  });
});

Deno.test("policyHolder watches the directory: a file renamed over the policy is loaded, a bad one refused", async () => {
  await withPolicyFile(ONE_RULE, async (file) => {
    const holder = createPolicyHolder({
      file,
      policy: loadPolicyFile(file),
      debounceMs: 20,
    });
    const lines = await withLiveLogLines(async (lines) => {
      holder.start();
      try {
        // Unrelated files in the same directory are ignored.
        await Deno.writeTextFile(`${file}.bak`, BAD);
        await replaceByRename(file, TWO_RULES);
        await eventually(() => assertEquals(holder.current()?.ruleCount, 2));
        await replaceByRename(file, BAD);
        await eventually(() => {
          assert(
            lines.some((l) => l.event === "policy_reload_failed"),
            "the bad file is reported",
          );
        });
        assertEquals(holder.current()?.ruleCount, 2, "the good one stays");
      } finally {
        await holder.close();
      }
    });
    const events = lines.map((l) => `${l.event} ${l.reason}`);
    assertEquals(events[0], "policy_loaded start");
    assert(events.includes("policy_loaded file_change"), events.join(", "));
    assert(!events.includes("policy_loaded sighup"));
    const failed = lines.find((l) => l.event === "policy_reload_failed")!;
    assertEquals(failed.reason, "file_change");
    assertMatch(String(failed.error), /line 7, rule "broken": hosts\[0\]/);
  });
});

Deno.test("policyHolder.reload() on a file change with the same bytes announces nothing", async () => {
  await withPolicyFile(ONE_RULE, async (file) => {
    const holder = createPolicyHolder({ file, policy: loadPolicyFile(file) });
    const lines = await captureLogLines(async () => {
      assert(holder.reload("file_change"));
      await holder.close();
    });
    assertEquals(lines, []);
  });
});

Deno.test("policyHolder follows a Kubernetes ConfigMap update (the ..data symlink swapped)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-cm-" });
  try {
    await Deno.mkdir(`${dir}/..v1`);
    await Deno.writeTextFile(`${dir}/..v1/policy.yaml`, ONE_RULE);
    await Deno.symlink("..v1", `${dir}/..data`);
    await Deno.symlink("..data/policy.yaml", `${dir}/policy.yaml`);
    const file = `${dir}/policy.yaml`;
    const holder = createPolicyHolder({
      file,
      policy: loadPolicyFile(file),
      debounceMs: 20,
    });
    await withLiveLogLines(async () => {
      holder.start();
      try {
        // What the kubelet does: a new directory, a new link, renamed over ..data.
        await Deno.mkdir(`${dir}/..v2`);
        await Deno.writeTextFile(`${dir}/..v2/policy.yaml`, TWO_RULES);
        await Deno.symlink("..v2", `${dir}/..data_tmp`);
        await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
        await eventually(() => assertEquals(holder.current()?.ruleCount, 2));
      } finally {
        await holder.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
