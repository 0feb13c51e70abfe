/**
 * The HTTP listener section: `HOST`, `PORT`, `TRUSTED_PROXIES`,
 * `ALLOWED_HOSTS`, `MAX_REQUEST_BYTES`, and the connection guard's bounds
 * (`HTTP_MAX_CONNECTIONS`, `HTTP_HEADER_TIMEOUT_SECONDS`,
 * `HTTP_BODY_TIMEOUT_SECONDS`, `HTTP_IDLE_TIMEOUT_SECONDS`).
 *
 * @module
 */
import { isIp, isIpOrCidr, unbracket } from "../ip_address.ts";
import type { HttpConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";

/** The listen address when `HOST` is unset. */
export const DEFAULT_LISTEN_HOST = "0.0.0.0";

/**
 * Builds the listener section and warns when Host and Origin go unchecked.
 *
 * @throws {ConfigError} for a bad HOST, a TRUSTED_PROXIES entry that is no address or CIDR, or an ALLOWED_HOSTS entry that is no host name
 */
export function parseHttpConfig(
  values: EnvValues,
  context: ParseContext,
): HttpConfig {
  const hostname = parseListenHost(values.HOST);
  for (const proxy of values.TRUSTED_PROXIES) {
    if (!isIpOrCidr(proxy)) {
      throw new ConfigError(
        "TRUSTED_PROXIES",
        `entry "${proxy}" is not an IP address or CIDR; list proxy addresses like 127.0.0.1,10.0.0.0/24`,
      );
    }
  }
  if (values.ALLOWED_HOSTS.includes("*")) {
    context.warnings.push(
      "ALLOWED_HOSTS=*: Host and Origin headers are not checked (no DNS-rebinding protection)",
    );
  }
  for (const host of values.ALLOWED_HOSTS) {
    if (host !== "*" && !/^[a-z0-9.:\[\]-]+$/.test(host)) {
      throw new ConfigError(
        "ALLOWED_HOSTS",
        `entry "${host}" is not a host name; list the names clients use to reach the service, e.g. mcp.example.internal,localhost`,
      );
    }
  }
  return {
    hostname,
    port: values.PORT,
    trustedProxies: values.TRUSTED_PROXIES,
    allowedHosts: values.ALLOWED_HOSTS.map(unbracket),
    maxRequestBytes: values.MAX_REQUEST_BYTES,
    maxConnections: values.HTTP_MAX_CONNECTIONS,
    headerTimeoutSeconds: values.HTTP_HEADER_TIMEOUT_SECONDS,
    bodyTimeoutSeconds: values.HTTP_BODY_TIMEOUT_SECONDS,
    idleTimeoutSeconds: values.HTTP_IDLE_TIMEOUT_SECONDS,
  };
}

function parseListenHost(raw: string | undefined): string {
  const value = raw?.trim() ?? "";
  if (value === "") return DEFAULT_LISTEN_HOST;
  const bare = unbracket(value);
  if (isIp(bare) || /^[a-zA-Z0-9.-]{1,253}$/.test(bare)) return bare;
  throw new ConfigError(
    "HOST",
    `is "${value}"; set it to the address to listen on, e.g. ${DEFAULT_LISTEN_HOST} or 127.0.0.1`,
  );
}
