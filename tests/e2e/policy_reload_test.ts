/**
 * The policy of a real gateway process (`deno task start`) is replaced on
 * SIGHUP; a bad new file is refused with `policy_reload_failed` and the
 * policy in force stays, while the service keeps answering.
 */
import { createHash } from "node:crypto";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { startGateway } from "../support/gateway_process.ts";
import { callToolOnce, resultText } from "../support/mcp_client.ts";

const SAFE = "PROD-LINUX";
const SECRET = "Reload-Test-Secret-42";

/** A policy that lets `principal` fetch accounts of the test Safe. */
function policyFor(principal: string): string {
  return [
    "rules:",
    `  - name: ${principal}-fetches-linux`,
    `    principals: [${principal}]`,
    `    safes: ["${SAFE}"]`,
    "    tools: [get_credential]",
    "    effect: allow",
    "",
  ].join("\n");
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

Deno.test("a running gateway reloads its policy on SIGHUP and keeps the old one when the new file is bad", async () => {
  const ccp = await startCcpFixture(SAFE, [{
    Name: "linux-root",
    UserName: "root",
    Content: SECRET,
    Address: "server01.internal",
    PolicyID: "UnixSSH",
  }]);
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-e2e-" });
  const file = `${dir}/policy.yaml`;
  await Deno.writeTextFile(file, policyFor("alice"));
  const gateway = await startGateway({
    ...ccp.gatewayEnv,
    MCP_API_KEYS: `alice:${ccp.key}`,
    POLICY_FILE: file,
  });
  const fetchAsAlice = async (): Promise<
    { text: string; isError: boolean }
  > => {
    const result = await callToolOnce(
      `${gateway.baseUrl}/mcp/cyberark`,
      ccp.key,
      {
        name: "get_credential",
        arguments: { safe: SAFE, object_name: "linux-root" },
      },
    );
    return { text: resultText(result), isError: result.isError === true };
  };
  try {
    const started = await gateway.waitFor((e) => e.event === "service_started");
    assertEquals(started.policy_file, file);
    assertEquals(started.policy_rules, 1);
    const pid = Number(started.pid);
    assert(Number.isInteger(pid) && pid > 0, `pid ${started.pid}`);
    const loaded = await gateway.waitFor((e) =>
      e.event === "policy_loaded" && e.reason === "start"
    );
    assertEquals(loaded.source, file);
    assertEquals(loaded.sha256, sha256(policyFor("alice")));
    assertEquals(loaded.rules, 1);

    const allowed = await fetchAsAlice();
    assertEquals(allowed.isError, false, allowed.text);
    assert(allowed.text.startsWith("Handle: secret://"));

    // A policy that no longer names alice, announced on SIGHUP.
    const second = policyFor("bob");
    await Deno.writeTextFile(file, second);
    Deno.kill(pid, "SIGHUP");
    const reloaded = await gateway.waitFor((e) =>
      e.event === "policy_loaded" && e.reason === "sighup"
    );
    assertEquals(reloaded.sha256, sha256(second));
    assertEquals(reloaded.logger, "audit");
    const denied = await fetchAsAlice();
    assertEquals(denied.isError, true, denied.text);
    assert(!denied.text.includes(SECRET));

    // A bad file: refused, named with its line and rule; bob's policy stays.
    await Deno.writeTextFile(
      file,
      second.replace("tools: [get_credential]", "tools: [get_credentials]"),
    );
    Deno.kill(pid, "SIGHUP");
    const failed = await gateway.waitFor((e) =>
      e.event === "policy_reload_failed" && e.reason === "sighup"
    );
    assertEquals(failed.level, "error");
    assertEquals(failed.source, file);
    assertStringIncludes(
      String(failed.error),
      `POLICY_FILE ${file} line 5, rule "bob-fetches-linux": tools[0] is "get_credentials"`,
    );
    const health = await fetch(`${gateway.baseUrl}/health`);
    assertEquals(await health.json(), { status: "ok" });
    const stillDenied = await fetchAsAlice();
    assertEquals(stillDenied.isError, true, "the policy in force stays");
    assert(
      !gateway.events().some((e) =>
        e.event === "policy_loaded" &&
        e.sha256 !== sha256(policyFor("alice")) &&
        e.sha256 !== sha256(second)
      ),
      "the bad file never became the policy",
    );
    assert(!gateway.lines.some((line) => line.includes(SECRET)));
  } finally {
    await gateway.stop();
    await ccp.close();
    await Deno.remove(dir, { recursive: true });
  }
});
