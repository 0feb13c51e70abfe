import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { checkPolicy, formatCheck } from "../../../gateway/doctor/mod.ts";
import { parsePolicy } from "../../../gateway/policy/load_policy.ts";
import { config, statusOf } from "./_doctor.ts";

const FILE = "/etc/mcp-privileged/policy.yaml";
const POLICY = parsePolicy(
  "rules:\n  - name: all\n    principals: ['*']\n    effect: allow\n",
  FILE,
);

Deno.test("checkPolicy() warns without POLICY_FILE: everything is allowed for everyone", () => {
  const result = checkPolicy(config().policy);
  assertEquals(statusOf(result), "WARN policy");
  assertEquals(
    formatCheck(result),
    "WARN policy: POLICY_FILE is not set: every principal may fetch every account and run anything; set POLICY_FILE, see README Principals and policy",
  );
});

Deno.test("checkPolicy() passes a file only its owner can change, naming rules and a digest prefix", () => {
  for (const mode of [0o100644, 0o100640, 0o100600, 0o100444]) {
    const result = checkPolicy({ file: FILE, policy: POLICY }, {
      kind: "file",
      mode,
      uid: 0,
    });
    assertEquals(statusOf(result), "PASS policy", mode.toString(8));
    assertEquals(
      result.detail,
      `${FILE}: 1 rule(s), sha256 ${POLICY.sha256.slice(0, 12)}`,
    );
  }
});

Deno.test("checkPolicy() warns when the group or everyone may write the file", () => {
  for (const mode of [0o100664, 0o100646, 0o100666]) {
    const result = checkPolicy({ file: FILE, policy: POLICY }, {
      kind: "file",
      mode,
      uid: 1000,
    });
    assertEquals(statusOf(result), "WARN policy");
    assertStringIncludes(
      result.detail,
      "other users can change who may do what",
    );
    assertStringIncludes(result.fix ?? "", `chmod 644 ${FILE}`);
  }
});

Deno.test("checkPolicy() warns when the loaded file has gone", () => {
  const result = checkPolicy({ file: FILE, policy: POLICY }, {
    kind: "missing",
  });
  assertEquals(statusOf(result), "WARN policy");
  assertStringIncludes(result.detail, "not found");
});

Deno.test("checkPolicy() reads the mode of the real file by default", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/policy.yaml`;
    Deno.writeTextFileSync(
      file,
      "rules:\n  - name: all\n    principals: ['*']\n    effect: allow\n",
    );
    Deno.chmodSync(file, 0o666);
    const loaded = config({ POLICY_FILE: file }).policy;
    assertEquals(loaded.file, file);
    assertEquals(statusOf(checkPolicy(loaded)), "WARN policy");
    Deno.chmodSync(file, 0o644);
    assertEquals(statusOf(checkPolicy(loaded)), "PASS policy");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
