import { assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() binds handles to their scope and refuses unmapped platforms by default", () => {
  const { handles, warnings } = load({});
  assertEquals(handles.scopeBinding, true);
  assertEquals(handles.scopeRules.unmappedPlatform, "refuse");
  assertEquals(handles.scopeRules.platformProtocols.size, 0);
  assertEquals(handles.scopeRules.platformPorts.size, 0);
  assertEquals(warnings, []);
});

Deno.test("loadConfig() reads PLATFORM_PROTOCOLS and PLATFORM_PORTS, keyed by lower-cased platform ID", () => {
  const { scopeRules } = load({
    PLATFORM_PROTOCOLS: " MyLinuxPlatform=ssh, MyPg=POSTGRES ,Oracle=mysql",
    PLATFORM_PORTS:
      "UnixSSH=22|2222,PostgreSQL=5432|6432,mypg=6543,Oracle=3307",
  }).handles;
  assertEquals(
    scopeRules.platformProtocols,
    new Map([
      ["mylinuxplatform", "ssh"],
      ["mypg", "postgres"],
      ["oracle", "mysql"],
    ]),
  );
  assertEquals(
    scopeRules.platformPorts,
    new Map([
      ["unixssh", [22, 2222]],
      ["postgresql", [5432, 6432]],
      ["mypg", [6543]],
      ["oracle", [3307]],
    ]),
  );
});

Deno.test("loadConfig() warns about HANDLE_SCOPE_BINDING=false and UNMAPPED_PLATFORM=standard-ports", () => {
  const relaxed = load({
    HANDLE_SCOPE_BINDING: "false",
    UNMAPPED_PLATFORM: "Standard-Ports",
  });
  assertEquals(relaxed.handles.scopeBinding, false);
  assertEquals(relaxed.handles.scopeRules.unmappedPlatform, "standard-ports");
  assertEquals(relaxed.warnings.map((w) => w.split(":")[0]), [
    "HANDLE_SCOPE_BINDING=false",
    "UNMAPPED_PLATFORM=standard-ports",
  ]);
});

Deno.test("loadConfig() refuses malformed scope settings in one line that names the fix", () => {
  assertOneLineErrors([
    [
      { HANDLE_SCOPE_BINDING: "maybe" },
      "HANDLE_SCOPE_BINDING",
      "set it to true or false (default true)",
    ],
    [
      { UNMAPPED_PLATFORM: "allow" },
      "UNMAPPED_PLATFORM",
      "set it to one of refuse, standard-ports (default refuse)",
    ],
    [
      { PLATFORM_PROTOCOLS: "MyPg=telnet" },
      "PLATFORM_PROTOCOLS",
      'maps "MyPg" to "telnet", not a protocol of this service; use one of ssh, winrm, postgres, mysql, mssql',
    ],
    [
      { PLATFORM_PROTOCOLS: "MyPg" },
      "PLATFORM_PROTOCOLS",
      'has the item "MyPg", not PLATFORM_ID=VALUE; list PLATFORM_ID=PROTOCOL pairs',
    ],
    [
      { PLATFORM_PROTOCOLS: "MyPg=ssh,,B=ssh" },
      "PLATFORM_PROTOCOLS",
      'has the item ""',
    ],
    [
      { PLATFORM_PROTOCOLS: "MyPg=" },
      "PLATFORM_PROTOCOLS",
      'has the item "MyPg="',
    ],
    [
      { PLATFORM_PROTOCOLS: "My Pg=postgres" },
      "PLATFORM_PROTOCOLS",
      'names the platform "My Pg"',
    ],
    [
      { PLATFORM_PROTOCOLS: "MyPg=postgres,mypg=mysql" },
      "PLATFORM_PROTOCOLS",
      'names the platform "mypg" twice',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22|0" },
      "PLATFORM_PORTS",
      'gives "UnixSSH" the port "0", not a port from 1 to 65535',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22|65536" },
      "PLATFORM_PORTS",
      'the port "65536"',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22|" },
      "PLATFORM_PORTS",
      'the port ""',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22;2222" },
      "PLATFORM_PORTS",
      'the port "22;2222"',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22| 2222" },
      "PLATFORM_PORTS",
      'the port " 2222"',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22|22" },
      "PLATFORM_PORTS",
      'lists port 22 twice for "UnixSSH"',
    ],
    [
      { PLATFORM_PORTS: "MyLinuxPlatform=2222" },
      "PLATFORM_PORTS",
      'names "MyLinuxPlatform", a platform not mapped to a protocol; map it in PLATFORM_PROTOCOLS first',
    ],
    [
      { PLATFORM_PORTS: "Oracle=1521" },
      "PLATFORM_PORTS",
      'names "Oracle", a platform not mapped to a protocol',
    ],
    [
      { PLATFORM_PORTS: "UnixSSH=22,unixssh=2222" },
      "PLATFORM_PORTS",
      "twice",
    ],
  ]);
});
