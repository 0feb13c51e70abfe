import { assertEquals } from "../../support/assert.ts";
import { load } from "./_env.ts";

Deno.test("loadConfig() reads SSH_KNOWN_HOSTS as a path (~ expanded) or disable, with a warning", () => {
  assertEquals(
    load({ SSH_KNOWN_HOSTS: "/etc/mcp/ssh_known_hosts" }).sshKnownHosts,
    {
      mode: "file",
      path: "/etc/mcp/ssh_known_hosts",
    },
  );
  assertEquals(load({ SSH_KNOWN_HOSTS: "~" }).sshKnownHosts, {
    mode: "file",
    path: "/home/mcpuser",
  });
  const off = load({ SSH_KNOWN_HOSTS: "Disable" });
  assertEquals(off.sshKnownHosts, { mode: "disable" });
  assertEquals(off.warnings.length, 1);
});
