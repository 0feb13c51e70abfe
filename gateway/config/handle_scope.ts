/**
 * The handle scope section: `PLATFORM_PROTOCOLS`, `PLATFORM_PORTS`,
 * `UNMAPPED_PLATFORM` and `HANDLE_SCOPE_BINDING`, which decide which tool
 * and ports a handle is for (see `vault/handle_scope.ts`).
 *
 * @module
 */
import {
  HANDLE_PROTOCOLS,
  type HandleProtocol,
  type HandleScopeRules,
  parsePort,
  protocolOfPlatform,
} from "../../vault/handle_scope.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";

/** The handle scope settings, as the vault takes them. */
export interface HandleScopeConfig {
  /** `HANDLE_SCOPE_BINDING`: refuse a handle used by another protocol or on another port. */
  scopeBinding: boolean;
  /** `PLATFORM_PROTOCOLS`, `PLATFORM_PORTS` and `UNMAPPED_PLATFORM`. */
  scopeRules: HandleScopeRules;
}

/** A CyberArk platform ID as these settings accept it. */
const PLATFORM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const PROTOCOLS_FIX =
  `list PLATFORM_ID=PROTOCOL pairs separated by commas, e.g. PLATFORM_PROTOCOLS=MyLinuxPlatform=ssh,MyPg=postgres (protocols: ${
    HANDLE_PROTOCOLS.join(", ")
  })`;
const PORTS_FIX =
  "list PLATFORM_ID=PORT|PORT pairs separated by commas, e.g. PLATFORM_PORTS=UnixSSH=22|2222,PostgreSQL=5432|6432 (ports 1 to 65535)";

/**
 * Builds the scope section and warns when the scope check is off.
 *
 * @throws {ConfigError} for a malformed PLATFORM_PROTOCOLS or PLATFORM_PORTS
 */
export function parseHandleScopeConfig(
  values: EnvValues,
  context: ParseContext,
): HandleScopeConfig {
  const platformProtocols = parsePlatformProtocols(
    values.PLATFORM_PROTOCOLS ?? "",
  );
  const rules: HandleScopeRules = {
    platformProtocols,
    platformPorts: new Map(),
    unmappedPlatform: values.UNMAPPED_PLATFORM,
  };
  const platformPorts = parsePlatformPorts(values.PLATFORM_PORTS ?? "", rules);
  if (!values.HANDLE_SCOPE_BINDING) {
    context.warnings.push(
      "HANDLE_SCOPE_BINDING=false: a handle can be used by any tool on any port, not only by the tool and ports of its account's platform",
    );
  }
  if (values.UNMAPPED_PLATFORM === "standard-ports") {
    context.warnings.push(
      "UNMAPPED_PLATFORM=standard-ports: an account whose platform maps to no protocol gets a handle any tool can use on its standard ports",
    );
  }
  return {
    scopeBinding: values.HANDLE_SCOPE_BINDING,
    scopeRules: { ...rules, platformPorts },
  };
}

/** `A=ssh,B=postgres` as a map from lower-cased platform ID to protocol. */
function parsePlatformProtocols(raw: string): Map<string, HandleProtocol> {
  const map = new Map<string, HandleProtocol>();
  for (const [name, value] of pairs("PLATFORM_PROTOCOLS", raw, PROTOCOLS_FIX)) {
    const protocol = value.toLowerCase() as HandleProtocol;
    if (!HANDLE_PROTOCOLS.includes(protocol)) {
      throw new ConfigError(
        "PLATFORM_PROTOCOLS",
        `maps "${name}" to "${value}", not a protocol of this service; use one of ${
          HANDLE_PROTOCOLS.join(", ")
        } (${PROTOCOLS_FIX})`,
      );
    }
    map.set(name.toLowerCase(), protocol);
  }
  return map;
}

/** `A=22|2222` as a map from lower-cased platform ID to ports; each platform must speak a protocol. */
function parsePlatformPorts(
  raw: string,
  rules: HandleScopeRules,
): Map<string, readonly number[]> {
  const map = new Map<string, readonly number[]>();
  for (const [name, value] of pairs("PLATFORM_PORTS", raw, PORTS_FIX)) {
    if (!protocolOfPlatform(name, rules)) {
      throw new ConfigError(
        "PLATFORM_PORTS",
        `names "${name}", a platform not mapped to a protocol; map it in PLATFORM_PROTOCOLS first, e.g. PLATFORM_PROTOCOLS=${name}=ssh`,
      );
    }
    const ports: number[] = [];
    for (const text of value.split("|")) {
      const port = parsePort(text.trim());
      if (port === undefined || text.trim() !== text) {
        throw new ConfigError(
          "PLATFORM_PORTS",
          `gives "${name}" the port "${text}", not a port from 1 to 65535; ${PORTS_FIX}`,
        );
      }
      if (ports.includes(port)) {
        throw new ConfigError(
          "PLATFORM_PORTS",
          `lists port ${port} twice for "${name}"; ${PORTS_FIX}`,
        );
      }
      ports.push(port);
    }
    map.set(name.toLowerCase(), ports);
  }
  return map;
}

/**
 * The `NAME=VALUE` items of a comma-separated setting, each platform named
 * once (case-insensitively).
 *
 * @throws {ConfigError} for an item that is not `NAME=VALUE`, a bad name, or a name given twice
 */
function pairs(
  variable: string,
  raw: string,
  fix: string,
): [string, string][] {
  if (raw.trim() === "") return [];
  const seen = new Set<string>();
  const out: [string, string][] = [];
  for (const item of raw.split(",")) {
    const entry = item.trim();
    const equals = entry.indexOf("=");
    const name = equals < 0 ? "" : entry.slice(0, equals).trim();
    const value = equals < 0 ? "" : entry.slice(equals + 1).trim();
    if (entry === "" || name === "" || value === "") {
      throw new ConfigError(
        variable,
        `has the item "${entry}", not PLATFORM_ID=VALUE; ${fix}`,
      );
    }
    if (!PLATFORM_ID.test(name)) {
      throw new ConfigError(
        variable,
        `names the platform "${name}"; a platform ID here is 1 to 100 letters, digits and _ . - (as in PVWA); ${fix}`,
      );
    }
    if (seen.has(name.toLowerCase())) {
      throw new ConfigError(
        variable,
        `names the platform "${name}" twice; give each platform once; ${fix}`,
      );
    }
    seen.add(name.toLowerCase());
    out.push([name, value]);
  }
  return out;
}
