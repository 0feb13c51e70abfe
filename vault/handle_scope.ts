/**
 * Handle scope: besides its host (`host_binding.ts`), a handle is bound to
 * the protocol its account's platform speaks and to a set of ports, so that a
 * PostgreSQL password cannot be sent by `ssh_execute`, nor to a listener on
 * another port of the same host.
 *
 * The protocol comes from the account's platform (its `PolicyID` property)
 * through {@linkcode BUILT_IN_PLATFORMS}, which `PLATFORM_PROTOCOLS` extends
 * or overrides. The ports are the account's `Port` property when it has a
 * valid one, else the platform's ports from `PLATFORM_PORTS`, else the
 * protocol's {@linkcode STANDARD_PORTS}. A platform that maps to no protocol
 * is refused at issue (`UNMAPPED_PLATFORM=refuse`, the default) or usable by
 * any tool on that tool's standard ports only (`standard-ports`).
 *
 * @module
 */

/** The protocols the target tools speak. */
export type HandleProtocol = "ssh" | "winrm" | "postgres" | "mysql" | "mssql";

/** Every {@linkcode HandleProtocol}, in the order messages list them. */
export const HANDLE_PROTOCOLS: readonly HandleProtocol[] = [
  "ssh",
  "winrm",
  "postgres",
  "mysql",
  "mssql",
];

/**
 * What a handle may be used for: one protocol on a set of ports. A `null`
 * protocol (an unmapped platform under `UNMAPPED_PLATFORM=standard-ports`)
 * means any tool, on that tool's standard ports only; `ports` is then empty.
 */
export interface HandleScope {
  protocol: HandleProtocol | null;
  ports: readonly number[];
}

/** The ports a protocol's servers listen on by default. */
export const STANDARD_PORTS: Readonly<
  Record<HandleProtocol, readonly number[]>
> = {
  ssh: [22],
  winrm: [5985, 5986],
  postgres: [5432],
  mysql: [3306],
  mssql: [1433],
};

/**
 * CyberArk's standard platform IDs and the protocol of each; `null` for a
 * platform whose protocol no tool of this service speaks (its accounts get
 * no handle whatever `UNMAPPED_PLATFORM` says). Looked up case-insensitively.
 */
export const BUILT_IN_PLATFORMS: ReadonlyMap<string, HandleProtocol | null> =
  new Map<string, HandleProtocol | null>([
    ["UnixSSH", "ssh"],
    ["UnixSSHKeys", "ssh"],
    ["WinDomain", "winrm"],
    ["WinServerLocal", "winrm"],
    ["WinDesktopLocal", "winrm"],
    ["PostgreSQL", "postgres"],
    ["MySQL", "mysql"],
    ["MariaDB", "mysql"],
    ["MSSql", "mssql"],
    ["Oracle", null],
  ]);

/** What happens to an account whose platform maps to no protocol (`UNMAPPED_PLATFORM`). */
export type UnmappedPlatformMode = "refuse" | "standard-ports";

/** Every {@linkcode UnmappedPlatformMode}, the default first. */
export const UNMAPPED_PLATFORM_MODES: readonly UnmappedPlatformMode[] = [
  "refuse",
  "standard-ports",
];

/** The operator's scope settings, validated by the configuration. */
export interface HandleScopeRules {
  /** `PLATFORM_PROTOCOLS`: platform ID (lower-cased) to protocol, over {@linkcode BUILT_IN_PLATFORMS}. */
  readonly platformProtocols: ReadonlyMap<string, HandleProtocol>;
  /** `PLATFORM_PORTS`: platform ID (lower-cased) to the ports used instead of the standard ones. */
  readonly platformPorts: ReadonlyMap<string, readonly number[]>;
  /** `UNMAPPED_PLATFORM`. */
  readonly unmappedPlatform: UnmappedPlatformMode;
}

/** The built-in table alone, unmapped platforms refused. */
export const DEFAULT_SCOPE_RULES: HandleScopeRules = {
  platformProtocols: new Map(),
  platformPorts: new Map(),
  unmappedPlatform: "refuse",
};

/** The tool that speaks each protocol (names as in the operations manual). */
const TOOLS: Readonly<Record<HandleProtocol, string>> = {
  ssh: "ssh_execute",
  winrm: "ps_execute",
  postgres: "db_query",
  mysql: "db_query",
  mssql: "db_query",
};

const BUILT_IN_BY_KEY: ReadonlyMap<string, HandleProtocol | null> = new Map(
  [...BUILT_IN_PLATFORMS].map(([id, protocol]) => [id.toLowerCase(), protocol]),
);

/**
 * The protocol of a platform: the operator's mapping, else the built-in one.
 * `null` when the platform is known to speak no protocol of this service,
 * `undefined` when it is not mapped at all.
 */
export function protocolOfPlatform(
  platformId: string,
  rules: HandleScopeRules,
): HandleProtocol | null | undefined {
  const key = platformId.trim().toLowerCase();
  return rules.platformProtocols.get(key) ?? BUILT_IN_BY_KEY.get(key);
}

/** An account that gets no handle: its platform maps to no protocol this service speaks. */
export class UnmappedPlatformError extends Error {
  /** The account's `PolicyID` (empty when it has none). */
  readonly platformId: string;

  /** Creates the error; the message names the platform and the setting to fix. */
  constructor(platformId: string, message: string) {
    super(message);
    this.name = "UnmappedPlatformError";
    this.platformId = platformId;
  }
}

/** What {@linkcode scopeOfAccount} found, besides the scope. */
export interface AccountScope {
  readonly scope: HandleScope;
  /** The account's `PolicyID` (empty when it has none). */
  readonly platformId: string;
  /** The account's `Port` property when it is set but not a port (it is then ignored). */
  readonly badPort?: string;
}

/** The account an {@linkcode scopeOfAccount} error message names. */
export interface ScopedAccount {
  readonly objectName: string;
  readonly safe: string;
  /** CyberArk account properties (`PolicyID`, `Port`, ...). */
  readonly properties: Readonly<Record<string, string>>;
}

/**
 * The scope of an account's handle, from its `PolicyID` and `Port`.
 *
 * @throws {UnmappedPlatformError} the platform maps to no protocol and unmapped platforms are refused (or it is known to speak none)
 */
export function scopeOfAccount(
  account: ScopedAccount,
  rules: HandleScopeRules,
): AccountScope {
  const platformId = (account.properties.PolicyID ?? "").trim();
  const protocol = platformId === ""
    ? undefined
    : protocolOfPlatform(platformId, rules);
  const which =
    `Cannot issue a handle for "${account.objectName}" in safe "${account.safe}"`;
  if (protocol === null) {
    throw new UnmappedPlatformError(
      platformId,
      `${which}: its platform "${platformId}" uses a protocol that no tool of this service speaks; if its accounts are in fact reached over ${
        HANDLE_PROTOCOLS.join(", ")
      }, map the platform with PLATFORM_PROTOCOLS=${platformId}=<protocol>`,
    );
  }
  if (protocol === undefined) {
    if (rules.unmappedPlatform === "refuse") {
      throw new UnmappedPlatformError(
        platformId,
        platformId === ""
          ? `${which}: the account has no platform (PolicyID), so its protocol is unknown; give it a platform in CyberArk, or set UNMAPPED_PLATFORM=standard-ports (less safe)`
          : `${which}: its platform "${platformId}" is not mapped to a protocol; map the platform with PLATFORM_PROTOCOLS=${platformId}=ssh (or winrm, postgres, mysql, mssql), or set UNMAPPED_PLATFORM=standard-ports (less safe)`,
      );
    }
    return { scope: { protocol: null, ports: [] }, platformId };
  }
  const rawPort = account.properties.Port?.trim() ?? "";
  const port = parsePort(rawPort);
  const ports = port !== undefined
    ? [port]
    : rules.platformPorts.get(platformId.toLowerCase()) ??
      STANDARD_PORTS[protocol];
  return {
    scope: { protocol, ports: [...ports] },
    platformId,
    ...(rawPort !== "" && port === undefined ? { badPort: rawPort } : {}),
  };
}

/** A TCP port written as 1 to 65535 in decimal, else `undefined`. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Where a tool wants to use a handle. */
export interface ScopeTarget {
  readonly port: number;
  /** The protocol the calling tool speaks. */
  readonly protocol: HandleProtocol;
}

/** True when `scope` allows a tool speaking `target.protocol` on `target.port`. */
export function scopeAllows(scope: HandleScope, target: ScopeTarget): boolean {
  if (scope.protocol === null) {
    return STANDARD_PORTS[target.protocol].includes(target.port);
  }
  return scope.protocol === target.protocol &&
    scope.ports.includes(target.port);
}

/** `ssh_execute`, or `db_query (postgres)`: the tool that speaks a protocol. */
export function toolOf(protocol: HandleProtocol): string {
  const tool = TOOLS[protocol];
  return tool === "db_query" ? `${tool} (${protocol})` : tool;
}

/** `22`, `5985 or 5986`, `22, 2222 or 2223`. */
export function formatPorts(ports: readonly number[]): string {
  if (ports.length <= 1) return ports.map(String).join("");
  return `${ports.slice(0, -1).join(", ")} or ${ports[ports.length - 1]}`;
}

function hostText(address: string): string {
  if (address === "") return "(no Address)";
  return address.includes(":") ? `[${address}]` : address;
}

const ANY_TOOL = "ssh_execute, ps_execute or db_query";

/**
 * What a handle is for, as `get_credential` shows it: `db_query (postgres)
 * on db01.corp:5432`, `ssh_execute on web01:22 or 2222`.
 */
export function describeScope(scope: HandleScope, address: string): string {
  if (scope.protocol === null) {
    return `any tool (${ANY_TOOL}) on ${
      hostText(address)
    }, on that tool's standard ports only (its platform is not mapped to a protocol)`;
  }
  return `${toolOf(scope.protocol)} on ${hostText(address)}:${
    formatPorts(scope.ports)
  }`;
}

/**
 * Why a tool may not use a handle, for the model:
 * `Refused: this handle is for db_query (postgres) on db01.corp port 5432,
 * not ssh_execute on port 22; the handle was not used`.
 */
export function scopeRefusal(
  held: { readonly scope: HandleScope; readonly address: string },
  target: ScopeTarget,
): string {
  const { scope, address } = held;
  const asked = `not ${toolOf(target.protocol)} on port ${target.port}`;
  if (scope.protocol === null) {
    const standard = STANDARD_PORTS[target.protocol];
    return `Refused: this handle's platform is not mapped to a protocol, so it works only on a tool's standard ports (${
      toolOf(target.protocol)
    }: ${standard.length > 1 ? "ports" : "port"} ${formatPorts(standard)}) on ${
      hostText(address)
    }, ${asked}; the handle was not used; ask the operators to map the platform in PLATFORM_PROTOCOLS`;
  }
  const ports = `${scope.ports.length > 1 ? "ports" : "port"} ${
    formatPorts(scope.ports)
  }`;
  return `Refused: this handle is for ${toolOf(scope.protocol)} on ${
    hostText(address)
  } ${ports}, ${asked}; the handle was not used`;
}

/** True for a value that {@linkcode HandleScope} describes (for entries read back from a store). */
export function isHandleScope(value: unknown): value is HandleScope {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (
    v.protocol !== null &&
    !HANDLE_PROTOCOLS.includes(v.protocol as HandleProtocol)
  ) {
    return false;
  }
  return Array.isArray(v.ports) &&
    v.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) &&
    (v.protocol === null) === (v.ports.length === 0);
}
