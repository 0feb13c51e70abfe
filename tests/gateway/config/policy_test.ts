import { assert, assertEquals } from "../../support/assert.ts";
import { policyFileSetting } from "../../../gateway/config/mod.ts";
import { assertOneLineErrors, failure, load, withTempDir } from "./_env.ts";

const POLICY = [
  "rules:",
  "  - name: everyone",
  '    principals: ["*"]',
  "    effect: allow",
  "",
].join("\n");

Deno.test("loadConfig() without POLICY_FILE has no policy (everything allowed)", () => {
  assertEquals(load({}).policy, { file: undefined, policy: undefined });
  assertEquals(load({ POLICY_FILE: "  " }).policy.policy, undefined);
});

Deno.test("loadConfig() reads and validates POLICY_FILE at start-up, ~ expanded", () => {
  withTempDir((dir) => {
    Deno.mkdirSync(`${dir}/etc`);
    Deno.writeTextFileSync(`${dir}/etc/policy.yaml`, POLICY);
    const config = load({ POLICY_FILE: "~/etc/policy.yaml" }, dir);
    assertEquals(config.policy.file, `${dir}/etc/policy.yaml`);
    assertEquals(config.policy.policy?.ruleCount, 1);
    assertEquals(config.policy.policy?.source, `${dir}/etc/policy.yaml`);
    assertEquals(
      config.policy.policy?.evaluate({
        principal: "x",
        tool: "db_query",
        safe: "S",
        object: "O",
      }).rule,
      "everyone",
    );
  });
});

Deno.test("loadConfig() stops at a bad policy with one ConfigError line naming POLICY_FILE, file, line and rule", () => {
  withTempDir((dir) => {
    const file = `${dir}/policy.yaml`;
    Deno.writeTextFileSync(file, POLICY.replace("allow", "permit"));
    const error = failure({ POLICY_FILE: file });
    assertEquals(error.variable, "POLICY_FILE");
    assertEquals(
      error.message,
      `Invalid configuration: POLICY_FILE ${file} line 4, rule "everyone": effect is "permit"; use one of allow, deny, approve`,
    );
    assert(!error.message.includes("\n"));
  });
  assertOneLineErrors([
    [
      { POLICY_FILE: "/nonexistent/policy.yaml" },
      "POLICY_FILE",
      "/nonexistent/policy.yaml: cannot be read (not found); point POLICY_FILE at a YAML policy file",
    ],
  ]);
});

Deno.test("policyFileSetting() reads POLICY_FILE alone from the environment over the .env file", () => {
  withTempDir((dir) => {
    const envFile = `${dir}/.env`;
    Deno.writeTextFileSync(envFile, "POLICY_FILE=~/from-env-file.yaml\n");
    assertEquals(
      policyFileSetting({ env: {}, envFile, home: "/home/op" }),
      "/home/op/from-env-file.yaml",
    );
    assertEquals(
      policyFileSetting({ env: { POLICY_FILE: "/etc/p.yaml" }, envFile }),
      "/etc/p.yaml",
    );
    assertEquals(policyFileSetting({ env: {} }), undefined);
  });
});
