/**
 * The settings checks: what the validated configuration says about handles,
 * TLS to CyberArk and to the targets, logging, and the HTTP listener,
 * judged against the operations manual's hardening checklist.
 *
 * @module
 */
import {
  type Config,
  type CyberArkConfig,
  type HandleConfig,
  type HttpConfig,
  insecureDbTls,
} from "../config/mod.ts";
import { isLoopback, parseCidr } from "../ip_address.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass, warn } from "./_verdicts.ts";

/** The manual's checklist: handles expire within 5 minutes. */
export const MAX_HANDLE_TTL_SECONDS = 300;

/**
 * HANDLE_SINGLE_USE, HANDLE_TTL_SECONDS, HANDLE_HOST_BINDING,
 * HANDLE_SCOPE_BINDING and UNMAPPED_PLATFORM.
 */
export function checkHandles(handles: HandleConfig): CheckResult[] {
  return [
    handles.singleUse
      ? pass("handle-single-use", "HANDLE_SINGLE_USE=true")
      : fail(
        "handle-single-use",
        "HANDLE_SINGLE_USE=false: a handle can be redeemed until it expires",
        "set HANDLE_SINGLE_USE=true (the default)",
      ),
    handles.ttlSeconds <= MAX_HANDLE_TTL_SECONDS
      ? pass("handle-ttl", `HANDLE_TTL_SECONDS=${handles.ttlSeconds}`)
      : fail(
        "handle-ttl",
        `HANDLE_TTL_SECONDS=${handles.ttlSeconds} is above ${MAX_HANDLE_TTL_SECONDS}`,
        `set HANDLE_TTL_SECONDS to ${MAX_HANDLE_TTL_SECONDS} or less`,
      ),
    handles.hostBinding
      ? pass("handle-host-binding", "HANDLE_HOST_BINDING=true")
      : warn(
        "handle-host-binding",
        "HANDLE_HOST_BINDING=false: a handle works against any host, not only the account's Address",
        "set HANDLE_HOST_BINDING=true (the default)",
      ),
    ...checkHandleScope(handles),
  ];
}

/**
 * HANDLE_SCOPE_BINDING (off is unsafe in production: a handle could be sent
 * by any tool to any port of its host) and UNMAPPED_PLATFORM (standard-ports
 * lets any tool use a handle whose platform says nothing of its protocol).
 */
export function checkHandleScope(handles: HandleConfig): CheckResult[] {
  const mapped = handles.scopeRules.platformProtocols.size;
  const widened = handles.scopeRules.platformPorts.size;
  const extra = mapped + widened === 0
    ? "built-in platform table"
    : `built-in platform table, ${mapped} platform(s) in PLATFORM_PROTOCOLS, ${widened} in PLATFORM_PORTS`;
  return [
    handles.scopeBinding
      ? pass("handle-scope-binding", `HANDLE_SCOPE_BINDING=true (${extra})`)
      : fail(
        "handle-scope-binding",
        "HANDLE_SCOPE_BINDING=false: a handle works with any tool on any port of its host, so a listener on another port can collect the secret",
        "set HANDLE_SCOPE_BINDING=true (the default), and map custom platforms with PLATFORM_PROTOCOLS and PLATFORM_PORTS",
      ),
    handles.scopeRules.unmappedPlatform === "refuse"
      ? pass("unmapped-platform", "UNMAPPED_PLATFORM=refuse")
      : warn(
        "unmapped-platform",
        "UNMAPPED_PLATFORM=standard-ports: an account whose platform maps to no protocol gets a handle any tool can use on its standard ports",
        "map your custom platforms with PLATFORM_PROTOCOLS and set UNMAPPED_PLATFORM=refuse (the default)",
      ),
  ];
}

/** CYBERARK_VERIFY_SSL and the scheme of CYBERARK_CCP_URL. */
export function checkCyberArkTls(cyberark: CyberArkConfig): CheckResult {
  const name = "cyberark-tls";
  if (!cyberark.verifyTls) {
    return fail(
      name,
      "CYBERARK_VERIFY_SSL=false: the CCP's certificate is not verified",
      "set CYBERARK_VERIFY_SSL=true, or to the path of your internal CA bundle",
    );
  }
  if (cyberark.ccpUrl.protocol !== "https:") {
    return warn(
      name,
      `CYBERARK_CCP_URL starts with ${cyberark.ccpUrl.protocol}//, so passwords cross the network in clear text`,
      "use the CCP's https:// URL (http:// is for the local emulator only)",
    );
  }
  const trust = cyberark.caBundlePath === undefined
    ? "the system CAs"
    : `the CA bundle ${cyberark.caBundlePath}`;
  const mtls = cyberark.pfxPath === undefined
    ? ""
    : ", with a client certificate";
  return pass(name, `https, verified against ${trust}${mtls}`);
}

/** TLS to the targets (WinRM HTTPS and databases) verifies certificates and host names. */
export function checkTargetTls(
  config: Pick<Config, "winrmTls" | "databases">,
): CheckResult {
  const name = "target-tls";
  const weak: string[] = [];
  if (!config.winrmTls.verifyTls) weak.push("WINRM_VERIFY_SSL=false");
  const { postgres, mysql, mssql } = config.databases;
  if (insecureDbTls("postgres", postgres) !== null) {
    weak.push(`PG_SSLMODE=${postgres.sslmode}`);
  }
  if (insecureDbTls("mysql", mysql) !== null) {
    weak.push(`MYSQL_SSL=${mysql.mode}`);
  }
  if (!mssql.encrypt) weak.push("MSSQL_ENCRYPT=false");
  if (mssql.trustServerCertificate) {
    weak.push("MSSQL_TRUST_SERVER_CERTIFICATE=true");
  }
  if (weak.length > 0) {
    return warn(
      name,
      `${
        weak.join(", ")
      }: some target connections are not fully verified or not encrypted`,
      "use WINRM_VERIFY_SSL=true or a CA bundle, PG_SSLMODE=verify-full, MYSQL_SSL=verify_identity, MSSQL_ENCRYPT=true with MSSQL_TRUST_SERVER_CERTIFICATE=false (and the *_SSL_CA variables for an internal CA)",
    );
  }
  return pass(
    name,
    "WinRM HTTPS and database TLS verify certificates and host names",
  );
}

/** LOG_FORMAT=json for log shipping; LOG_LEVEL not DEBUG in production. */
export function checkLogging(log: Config["log"]): CheckResult {
  const name = "log-format";
  if (log.format !== "json") {
    return warn(
      name,
      `LOG_FORMAT=${log.format}: the audit log is not one JSON object per line`,
      "set LOG_FORMAT=json for log shipping to the SIEM",
    );
  }
  if (log.level === "debug") {
    return warn(
      name,
      "LOG_FORMAT=json, LOG_LEVEL=DEBUG: executor diagnostics fill the log",
      "set LOG_LEVEL=INFO in production",
    );
  }
  return pass(name, `LOG_FORMAT=json, LOG_LEVEL=${log.level.toUpperCase()}`);
}

/**
 * AUTH_FAILURE_LIMIT and TOOL_CALL_LIMIT with their windows, and where the
 * counters live; failed authentications unlimited is a warning.
 */
export function checkRateLimits(config: Config): CheckResult {
  const name = "rate-limits";
  const { authFailures, toolCalls } = config.rateLimits;
  const tools = toolCalls.limit === 0
    ? "TOOL_CALL_LIMIT=0 (tool calls not limited)"
    : `TOOL_CALL_LIMIT=${toolCalls.limit} per ${toolCalls.windowSeconds} s per principal`;
  const where = config.handleStore.kind === "redis"
    ? "counted in Redis, shared by the replicas"
    : "counted in this process";
  if (authFailures.limit === 0) {
    return warn(
      name,
      `AUTH_FAILURE_LIMIT=0: failed authentications are not limited, ${tools}`,
      "set AUTH_FAILURE_LIMIT=10 (and AUTH_FAILURE_WINDOW_SECONDS=60) so a client that guesses keys is blocked",
    );
  }
  return pass(
    name,
    `AUTH_FAILURE_LIMIT=${authFailures.limit} per ${authFailures.windowSeconds} s per client IP, ${tools}, ${where}`,
  );
}

/** ALLOWED_HOSTS is a list of names, not `*`. */
export function checkAllowedHosts(http: HttpConfig): CheckResult {
  const name = "allowed-hosts";
  return http.allowedHosts.includes("*")
    ? warn(
      name,
      "ALLOWED_HOSTS=*: Host and Origin are not checked (no DNS-rebinding protection)",
      "list the names clients use, e.g. ALLOWED_HOSTS=mcp.yourcompany.internal",
    )
    : pass(name, `ALLOWED_HOSTS=${http.allowedHosts.join(",")}`);
}

/**
 * TRUSTED_PROXIES and the listen address: no proxy trusted for the whole
 * Internet, and behind a local proxy the service listens on loopback only.
 */
export function checkListener(http: HttpConfig): CheckResult {
  const name = "listener";
  const proxies = http.trustedProxies.map((text) => ({
    text,
    network: parseCidr(text),
  }));
  const everyone = proxies.filter((p) => p.network?.prefix === 0)
    .map((p) => p.text);
  if (everyone.length > 0) {
    return fail(
      name,
      `TRUSTED_PROXIES=${
        everyone.join(",")
      } trusts every address: any client can forge client_ip in X-Forwarded-For`,
      "list only your proxies, e.g. TRUSTED_PROXIES=127.0.0.1",
    );
  }
  const wildcard = http.hostname === "0.0.0.0" || http.hostname === "::";
  const localProxy = proxies.some((p) =>
    p.network !== undefined && isLoopback(p.network.address)
  );
  const where = `${http.hostname}:${http.port}`;
  if (wildcard && localProxy) {
    return warn(
      name,
      `listening on ${where} while trusting a local proxy: clients can bypass it`,
      "set HOST=127.0.0.1 when nginx runs on this host",
    );
  }
  const trusted = http.trustedProxies.length === 0
    ? "no trusted proxy (client_ip is the socket peer)"
    : `trusted proxies ${http.trustedProxies.join(",")}`;
  return pass(name, `plain HTTP on ${where}, ${trusted}`);
}
