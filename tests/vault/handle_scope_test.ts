/**
 * Handle scope: the platform table, the operator's overrides, the ports, the
 * unmapped-platform modes, and the vault's refusals that spend nothing, run
 * against both stores.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../support/assert.ts";
import { deleteKeysUnder, randomKeyPrefix } from "../support/redis.ts";
import {
  BUILT_IN_PLATFORMS,
  DEFAULT_SCOPE_RULES,
  describeScope,
  type HandleProtocol,
  type HandleScopeRules,
  scopeAllows,
  scopeOfAccount,
  scopeRefusal,
  STANDARD_PORTS,
  UnmappedPlatformError,
} from "../../vault/handle_scope.ts";
import type { HandleStore } from "../../vault/handle_store.ts";
import {
  HandleError,
  HandleVault,
  type IssueInput,
  type RedeemTarget,
} from "../../vault/handle_vault.ts";
import {
  ACCOUNT,
  AT_HOME,
  redisSkip,
  refusal,
  targetOf,
  vaultTest,
} from "./_vault.ts";
import { sharedRedisStore } from "./_redis.ts";

/** An account of `platform` with more properties. */
function accountOf(
  platform: string | undefined,
  properties: Record<string, string> = {},
): IssueInput {
  return {
    ...ACCOUNT,
    properties: {
      ...(platform === undefined ? {} : { PolicyID: platform }),
      ...properties,
    },
  };
}

/** Scope rules with the operator's settings. */
function rules(options: {
  protocols?: Record<string, HandleProtocol>;
  ports?: Record<string, number[]>;
  unmapped?: HandleScopeRules["unmappedPlatform"];
}): HandleScopeRules {
  const lower = <T>(record: Record<string, T>): Map<string, T> =>
    new Map(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    platformProtocols: lower(options.protocols ?? {}),
    platformPorts: lower(options.ports ?? {}),
    unmappedPlatform: options.unmapped ?? "refuse",
  };
}

/** The scope of an account of `platform` under `scopeRules`. */
function scopeOf(
  platform: string | undefined,
  properties: Record<string, string> = {},
  scopeRules: HandleScopeRules = DEFAULT_SCOPE_RULES,
): { protocol: HandleProtocol | null; ports: readonly number[] } {
  return scopeOfAccount(accountOf(platform, properties), scopeRules).scope;
}

Deno.test("scopeOfAccount() maps CyberArk's standard platforms to their protocol and standard ports", () => {
  const expected: [string, HandleProtocol, number[]][] = [
    ["UnixSSH", "ssh", [22]],
    ["UnixSSHKeys", "ssh", [22]],
    ["WinDomain", "winrm", [5985, 5986]],
    ["WinServerLocal", "winrm", [5985, 5986]],
    ["WinDesktopLocal", "winrm", [5985, 5986]],
    ["PostgreSQL", "postgres", [5432]],
    ["MySQL", "mysql", [3306]],
    ["MariaDB", "mysql", [3306]],
    ["MSSql", "mssql", [1433]],
  ];
  for (const [platform, protocol, ports] of expected) {
    assertEquals(scopeOf(platform), { protocol, ports }, platform);
    assertEquals(STANDARD_PORTS[protocol], ports);
  }
  assertEquals(scopeOf("unixssh").protocol, "ssh", "case-insensitive");
  assertEquals(scopeOf(" PostgreSQL ").protocol, "postgres", "trimmed");
  assertEquals(
    [...BUILT_IN_PLATFORMS.keys()].sort(),
    [...expected.map(([platform]) => platform), "Oracle"].sort(),
  );
});

Deno.test("scopeOfAccount() refuses Oracle: no tool of the service speaks its protocol", () => {
  for (const unmapped of ["refuse", "standard-ports"] as const) {
    const error = assertThrows(
      () => scopeOfAccount(accountOf("Oracle"), rules({ unmapped })),
      UnmappedPlatformError,
    );
    assertEquals(error.platformId, "Oracle");
    assertStringIncludes(error.message, 'platform "Oracle"');
    assertStringIncludes(error.message, "PLATFORM_PROTOCOLS=Oracle=");
  }
});

Deno.test("scopeOfAccount() refuses an unmapped platform, naming it and the settings that fix it", () => {
  const error = assertThrows(
    () => scopeOfAccount(accountOf("MyLinuxPlatform"), DEFAULT_SCOPE_RULES),
    UnmappedPlatformError,
  );
  assertEquals(
    error.message,
    'Cannot issue a handle for "linux-root" in safe "PROD-LINUX": its platform "MyLinuxPlatform" is not mapped to a protocol; map the platform with PLATFORM_PROTOCOLS=MyLinuxPlatform=ssh (or winrm, postgres, mysql, mssql), or set UNMAPPED_PLATFORM=standard-ports (less safe)',
  );
  const none = assertThrows(
    () => scopeOfAccount(accountOf(undefined), DEFAULT_SCOPE_RULES),
    UnmappedPlatformError,
  );
  assertStringIncludes(none.message, "the account has no platform (PolicyID)");
});

Deno.test("scopeOfAccount() gives an unmapped platform the standard ports of any tool under UNMAPPED_PLATFORM=standard-ports", () => {
  const lenient = rules({ unmapped: "standard-ports" });
  for (const platform of ["MyLinuxPlatform", undefined, ""]) {
    assertEquals(scopeOf(platform, { Port: "2222" }, lenient), {
      protocol: null,
      ports: [],
    });
  }
  const scope = { protocol: null, ports: [] };
  assert(scopeAllows(scope, { protocol: "ssh", port: 22 }));
  assert(scopeAllows(scope, { protocol: "winrm", port: 5986 }));
  assert(scopeAllows(scope, { protocol: "mssql", port: 1433 }));
  assert(!scopeAllows(scope, { protocol: "ssh", port: 2222 }));
  assert(!scopeAllows(scope, { protocol: "ssh", port: 5432 }));
});

Deno.test("scopeOfAccount() takes PLATFORM_PROTOCOLS over the built-in table, case-insensitively", () => {
  const custom = rules({
    protocols: { MyLinuxPlatform: "ssh", MyPg: "postgres", UnixSSH: "winrm" },
  });
  assertEquals(scopeOf("mylinuxplatform", {}, custom), {
    protocol: "ssh",
    ports: [22],
  });
  assertEquals(scopeOf("MyPg", {}, custom).protocol, "postgres");
  assertEquals(scopeOf("UnixSSH", {}, custom).protocol, "winrm");
  assertEquals(scopeOf("MSSql", {}, custom).protocol, "mssql");
  assertEquals(
    scopeOf("Oracle", {}, rules({ protocols: { Oracle: "ssh" } })).protocol,
    "ssh",
  );
});

Deno.test("scopeOfAccount() takes the account's Port, else the platform's PLATFORM_PORTS, else the standard ports", () => {
  const widened = rules({ ports: { UnixSSH: [22, 2222], PostgreSQL: [6432] } });
  assertEquals(scopeOf("UnixSSH", { Port: "2200" }, widened).ports, [2200]);
  assertEquals(scopeOf("UnixSSH", {}, widened).ports, [22, 2222]);
  assertEquals(scopeOf("PostgreSQL", {}, widened).ports, [6432]);
  assertEquals(scopeOf("WinDomain", {}, widened).ports, [5985, 5986]);
  assertEquals(scopeOf("PostgreSQL", { Port: " 5433 " }).ports, [5433]);
});

Deno.test("scopeOfAccount() ignores a Port that is not a port and reports it", () => {
  for (const bad of ["0", "65536", "22a", "-1", "1e3", "0x16", "123456"]) {
    const found = scopeOfAccount(
      accountOf("UnixSSH", { Port: bad }),
      DEFAULT_SCOPE_RULES,
    );
    assertEquals(found.scope.ports, [22], bad);
    assertEquals(found.badPort, bad);
  }
  const blank = scopeOfAccount(
    accountOf("UnixSSH", { Port: "" }),
    DEFAULT_SCOPE_RULES,
  );
  assertEquals(blank.badPort, undefined);
});

Deno.test("describeScope() and scopeRefusal() say which tool and ports a handle is for", () => {
  const pg = { protocol: "postgres", ports: [5432] } as const;
  assertEquals(
    describeScope(pg, "db01.corp"),
    "db_query (postgres) on db01.corp:5432",
  );
  assertEquals(
    describeScope({ protocol: "ssh", ports: [22, 2222] }, "web01"),
    "ssh_execute on web01:22 or 2222",
  );
  assertEquals(
    describeScope({ protocol: "winrm", ports: [5985, 5986] }, "::1"),
    "ps_execute on [::1]:5985 or 5986",
  );
  assertStringIncludes(
    describeScope({ protocol: null, ports: [] }, "web01"),
    "standard ports only",
  );
  assertEquals(
    scopeRefusal({ scope: pg, address: "db01.corp" }, {
      protocol: "ssh",
      port: 22,
    }),
    "Refused: this handle is for db_query (postgres) on db01.corp port 5432, not ssh_execute on port 22; the handle was not used",
  );
  assertEquals(
    scopeRefusal(
      { scope: { protocol: "ssh", ports: [22, 2222] }, address: "web01" },
      { protocol: "mysql", port: 3306 },
    ),
    "Refused: this handle is for ssh_execute on web01 ports 22 or 2222, not db_query (mysql) on port 3306; the handle was not used",
  );
});

/** The scope HandleError a redemption for `target` rejects with (the handle of a UnixSSH account). */
async function scopeRefusalOf(
  vault: HandleVault,
  handle: string,
  target: Partial<RedeemTarget>,
): Promise<HandleError> {
  const error = await refusal(vault, handle, target);
  assertEquals(error.reason, "scope");
  return error;
}

vaultTest(
  "handleVault.redeem() refuses another protocol or port without consuming the handle",
  async (open) => {
    const { vault } = open();
    const { handle, scope } = await vault.issue(ACCOUNT);
    assertEquals(scope, { protocol: "ssh", ports: [22] });
    const wrongTool = await scopeRefusalOf(vault, handle, {
      protocol: "postgres",
      port: 22,
    });
    assertEquals(
      wrongTool.message,
      "Refused: this handle is for ssh_execute on server01.internal port 22, not db_query (postgres) on port 22; the handle was not used",
    );
    assertEquals(wrongTool.scope, { protocol: "ssh", ports: [22] });
    const wrongPort = await scopeRefusalOf(vault, handle, { port: 2222 });
    assertStringIncludes(wrongPort.message, "not ssh_execute on port 2222");
    await scopeRefusalOf(vault, handle, { protocol: "winrm", port: 5985 });
    assertEquals((await vault.redeem(handle, AT_HOME)).username, "root");
    const spent = await refusal(vault, handle);
    assertEquals(spent.reason, "already_consumed");
  },
);

vaultTest(
  "handleVault.check() applies every rule of redeem() and consumes nothing",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    for (let i = 0; i < 3; i++) await vault.check(handle, AT_HOME);
    const checks: [Partial<RedeemTarget>, string][] = [
      [{ port: 2222 }, "scope"],
      [{ protocol: "mssql", port: 1433 }, "scope"],
      [{ host: "evil.example" }, "host_mismatch"],
    ];
    for (const [target, reason] of checks) {
      const error = await assertRejects(
        () => vault.check(handle, targetOf(target)),
        HandleError,
      );
      assertEquals(error.reason, reason);
    }
    await vault.redeem(handle, AT_HOME);
    const consumed = await assertRejects(
      () => vault.check(handle, AT_HOME),
      HandleError,
      "Handle already consumed",
    );
    assertEquals(consumed.reason, "already_consumed");
    const unknown = await assertRejects(
      () => vault.check(`secret://${"B".repeat(43)}`, AT_HOME),
      HandleError,
      "Unknown handle",
    );
    assertEquals(unknown.reason, "unknown");
    await assertRejects(
      () => vault.check("secret://nope", AT_HOME),
      HandleError,
      "Unknown handle",
    );
  },
);

vaultTest(
  "handleVault.redeem() gives exactly one success among 100 concurrent redemptions, out-of-scope ones refused",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        vault.redeem(
          handle,
          i % 2 === 0
            ? AT_HOME
            : targetOf({ protocol: "postgres", port: 5432 }),
        )),
    );
    const reasons = results.map((r) =>
      r.status === "fulfilled" ? "ok" : (r.reason as HandleError).reason
    );
    assertEquals(reasons.filter((r) => r === "ok").length, 1);
    assertEquals(reasons.filter((r) => r === "already_consumed").length, 49);
    assertEquals(reasons.filter((r) => r === "scope").length, 50);
  },
);

vaultTest(
  "handleVault.issue() binds a handle to the account's Port and the operator's platform settings",
  async (open) => {
    const { vault } = open({
      scopeRules: rules({
        protocols: { MyPg: "postgres" },
        ports: { MyPg: [5432, 6432] },
      }),
    });
    const pg = await vault.issue(accountOf("MyPg"));
    assertEquals(pg.scope, { protocol: "postgres", ports: [5432, 6432] });
    await scopeRefusalOf(vault, pg.handle, {
      protocol: "postgres",
      port: 5433,
    });
    await vault.redeem(
      pg.handle,
      targetOf({ protocol: "postgres", port: 6432 }),
    );
    const ssh = await vault.issue(accountOf("UnixSSH", { Port: "2222" }));
    assertEquals(ssh.scope, { protocol: "ssh", ports: [2222] });
    await scopeRefusalOf(vault, ssh.handle, { port: 22 });
    await vault.redeem(ssh.handle, targetOf({ port: 2222 }));
  },
);

vaultTest(
  "handleVault.issue() stores nothing for an unmapped platform when UNMAPPED_PLATFORM=refuse",
  async (open) => {
    const { vault } = open();
    await assertRejects(
      () => vault.issue(accountOf("MyLinuxPlatform")),
      UnmappedPlatformError,
      'platform "MyLinuxPlatform" is not mapped',
    );
    assertEquals(await vault.size(), 0);
  },
);

vaultTest(
  "handleVault lets any tool use an unmapped platform's handle on that tool's standard ports under UNMAPPED_PLATFORM=standard-ports",
  async (open) => {
    const { vault } = open({
      scopeRules: rules({ unmapped: "standard-ports" }),
    });
    const { handle, scope } = await vault.issue(accountOf("MyLinuxPlatform"));
    assertEquals(scope, { protocol: null, ports: [] });
    const error = await scopeRefusalOf(vault, handle, { port: 2222 });
    assertStringIncludes(error.message, "ssh_execute: port 22");
    await scopeRefusalOf(vault, handle, { protocol: "postgres", port: 22 });
    await vault.check(handle, targetOf({ protocol: "winrm", port: 5986 }));
    await vault.redeem(handle, targetOf({ protocol: "postgres", port: 5432 }));
  },
);

vaultTest(
  "handleVault.redeem() skips only the scope check when HANDLE_SCOPE_BINDING=false",
  async (open) => {
    const { vault } = open({ scopeBinding: false });
    assertEquals(vault.settings.scopeBinding, false);
    const { handle, scopeBinding } = await vault.issue(ACCOUNT);
    assertEquals(scopeBinding, false);
    const anyPort = targetOf({ protocol: "mssql", port: 4444 });
    await vault.check(handle, anyPort);
    const error = await refusal(vault, handle, {
      ...anyPort,
      host: "evil.example",
    });
    assertEquals(error.reason, "host_mismatch");
    assertEquals((await vault.redeem(handle, anyPort)).username, "root");
  },
);

/** A store that drops the scope of every entry it stores, as versions before handle scopes wrote them. */
function writtenByOldVersion(store: HandleStore): HandleStore {
  return {
    put: (keys, entry, ttlMs) => {
      const { scope: _scope, ...old } = entry;
      return store.put(keys, old, ttlMs);
    },
    peek: (keys) => store.peek(keys),
    take: (keys) => store.take(keys),
    reserve: (keys, id, holdMs) => store.reserve(keys, id, holdMs),
    claim: (keys, id) => store.claim(keys, id),
    release: (keys, id) => store.release(keys, id),
    size: () => store.size(),
    close: () => store.close(),
  };
}

Deno.test({
  name:
    "handleVault refuses a Redis entry written without a scope as unknown scope, without consuming it",
  ignore: redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const prefix = randomKeyPrefix();
    const settings = { ttlSeconds: 60, singleUse: true, hostBinding: true };
    const old = new HandleVault({
      ...settings,
      store: writtenByOldVersion(sharedRedisStore(prefix)),
    });
    const current = new HandleVault({
      ...settings,
      store: sharedRedisStore(prefix),
    });
    const lax = new HandleVault({
      ...settings,
      scopeBinding: false,
      store: sharedRedisStore(prefix),
    });
    try {
      const { handle } = await old.issue(ACCOUNT);
      for (const attempt of [0, 1]) {
        const error = await assertRejects(
          () =>
            attempt === 0
              ? current.check(handle, AT_HOME)
              : current.redeem(handle, AT_HOME),
          HandleError,
          "unknown scope",
        );
        assertEquals(error.reason, "scope");
        assertEquals(error.scope, undefined);
      }
      // Not consumed: without the scope check the same entry still works.
      assertEquals((await lax.redeem(handle, AT_HOME)).username, "root");
    } finally {
      await Promise.all([old.close(), current.close(), lax.close()]);
      await deleteKeysUnder(prefix);
    }
  },
});
