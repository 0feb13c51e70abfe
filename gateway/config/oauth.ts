/**
 * The OAuth section: `MCP_AUTH` (which credentials the MCP endpoints
 * accept) and the `OAUTH_*` settings of the resource server: the issuer,
 * this service's canonical URL (the audience), scopes, claims, how tokens
 * are checked and what the issuer's certificate is checked against.
 *
 * @module
 */
import { Secret } from "../../vault/secret.ts";
import type { McpAuthMode, OAuthConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { readOptionalCaBundle } from "./ca_bundle.ts";
import { type EnvValues, MCP_AUTH_MODES } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";
import { expandHome } from "./_paths.ts";

const ISSUER_HINT =
  "set it to the authorization server's issuer URL exactly as its metadata names it, e.g. https://login.example.com/realms/corp";
const RESOURCE_HINT =
  "set it to this service's public URL as clients reach it, e.g. https://mcp.example.internal/mcp";
/** A claim name: letters, digits and `_ - . : /` (URI-named claims included). */
const CLAIM_PATTERN = /^[A-Za-z0-9_.:/-]{1,128}$/;
/** An RFC 6749 scope token: printable ASCII except space, `"` and `\`. */
const SCOPE_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/**
 * `MCP_AUTH`: set, or `both` when OAUTH_ISSUER is set, else `api_key`.
 *
 * @throws {ConfigError} naming MCP_AUTH for a word that is not a mode
 */
export function parseMcpAuthMode(values: EnvValues): McpAuthMode {
  const raw = values.MCP_AUTH?.trim().toLowerCase() ?? "";
  if (raw === "") {
    return (values.OAUTH_ISSUER?.trim() ?? "") === "" ? "api_key" : "both";
  }
  const mode = MCP_AUTH_MODES.find((m) => m === raw);
  if (mode === undefined) {
    throw new ConfigError(
      "MCP_AUTH",
      `is "${values.MCP_AUTH}"; set it to one of ${
        MCP_AUTH_MODES.join(", ")
      } (default api_key, or both when OAUTH_ISSUER is set)`,
    );
  }
  return mode;
}

/** Loopback host names, for which plain http is tolerated (with a warning). */
function isLoopback(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === "localhost" || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The shared checks of OAUTH_ISSUER and OAUTH_RESOURCE. */
function parseHttpsUrl(
  variable: string,
  raw: string,
  hint: string,
  context: ParseContext,
): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, `is "${raw}", not a URL; ${hint}`);
  }
  const problem = url.protocol !== "https:" && url.protocol !== "http:"
    ? "must start with https://"
    : url.protocol === "http:" && !isLoopback(url)
    ? "uses http:// for a host that is not this machine; tokens and keys would cross the network unprotected: use https://"
    : url.username !== "" || url.password !== ""
    ? "must not contain a user name or password"
    : url.hash !== ""
    ? "must not contain a fragment (#...)"
    : variable === "OAUTH_ISSUER" && url.search !== ""
    ? "must not contain a query string (RFC 8414)"
    : undefined;
  if (problem !== undefined) {
    throw new ConfigError(variable, `is "${raw}": ${problem}; ${hint}`);
  }
  if (url.protocol === "http:") {
    context.warnings.push(
      `${variable} uses http://${url.host}: acceptable only for local tests; use https:// in production`,
    );
  }
  return raw;
}

/** A claim-name setting, or `fallback` when unset. */
function claimName(
  variable: string,
  raw: string | undefined,
  fallback: string | undefined,
): string | undefined {
  const value = raw?.trim() ?? "";
  if (value === "") return fallback;
  if (!CLAIM_PATTERN.test(value)) {
    throw new ConfigError(
      variable,
      `is "${value}", not a claim name; use the claim's name as the token carries it (letters, digits, '_', '-', '.', ':' or '/'), e.g. preferred_username`,
    );
  }
  return value;
}

/**
 * `OAUTH_REQUIRED_SCOPES`: space- or comma-separated scope names.
 *
 * @throws {ConfigError} for a name with characters a scope cannot hold
 */
function parseScopes(raw: string | undefined): string[] {
  const scopes = (raw ?? "").split(/[\s,]+/).filter((s) => s !== "");
  for (const scope of scopes) {
    if (!SCOPE_PATTERN.test(scope)) {
      throw new ConfigError(
        "OAUTH_REQUIRED_SCOPES",
        `holds "${scope}", not a scope name (RFC 6749: printable characters without quotes or backslashes); list scopes separated by spaces or commas, e.g. "mcp:tools mcp:credentials"`,
      );
    }
  }
  return [...new Set(scopes)];
}

/**
 * Builds the OAuth section and refuses contradictory settings. Runs after
 * the API keys (`MCP_AUTH=oauth` with keys is refused there).
 *
 * @throws {ConfigError} naming the variable and the fix
 */
export function parseOAuthConfig(
  values: EnvValues,
  context: ParseContext,
  mode: McpAuthMode,
): OAuthConfig {
  const rawIssuer = values.OAUTH_ISSUER?.trim() ?? "";
  const rawResource = values.OAUTH_RESOURCE?.trim() ?? "";
  const common = {
    mode,
    requiredScopes: parseScopes(values.OAUTH_REQUIRED_SCOPES),
    principalClaim: claimName(
      "OAUTH_PRINCIPAL_CLAIM",
      values.OAUTH_PRINCIPAL_CLAIM,
      "sub",
    )!,
    tokenMode: values.OAUTH_TOKEN_MODE,
    clockSkewSeconds: values.OAUTH_CLOCK_SKEW_SECONDS,
  };
  const groupsClaim = claimName(
    "OAUTH_GROUPS_CLAIM",
    values.OAUTH_GROUPS_CLAIM,
    undefined,
  );
  if (mode === "api_key") {
    if (rawIssuer !== "") {
      throw new ConfigError(
        "MCP_AUTH",
        "is api_key but OAUTH_ISSUER is set, so no OAuth token would be accepted; set MCP_AUTH=both (or oauth) to accept tokens, or remove OAUTH_ISSUER",
      );
    }
    return { ...common, ...(groupsClaim === undefined ? {} : { groupsClaim }) };
  }
  if (rawIssuer === "") {
    throw new ConfigError(
      "OAUTH_ISSUER",
      `is not set but MCP_AUTH=${mode} needs it; ${ISSUER_HINT}, or set MCP_AUTH=api_key`,
    );
  }
  const issuer = parseHttpsUrl("OAUTH_ISSUER", rawIssuer, ISSUER_HINT, context);
  if (rawResource === "") {
    throw new ConfigError(
      "OAUTH_RESOURCE",
      `is not set but MCP_AUTH=${mode} needs it (tokens must name it as their audience); ${RESOURCE_HINT}`,
    );
  }
  const resource = parseHttpsUrl(
    "OAUTH_RESOURCE",
    rawResource,
    RESOURCE_HINT,
    context,
  );
  const clientId = values.OAUTH_INTROSPECTION_CLIENT_ID?.trim() ?? "";
  // The secret is never trimmed nor shown: only whether it is set.
  const clientSecret = values.OAUTH_INTROSPECTION_CLIENT_SECRET ?? "";
  if ((clientId === "") !== (clientSecret === "")) {
    const missing = clientId === ""
      ? "OAUTH_INTROSPECTION_CLIENT_ID"
      : "OAUTH_INTROSPECTION_CLIENT_SECRET";
    throw new ConfigError(
      missing,
      `is not set but ${
        clientId === ""
          ? "OAUTH_INTROSPECTION_CLIENT_SECRET"
          : "OAUTH_INTROSPECTION_CLIENT_ID"
      } is; set both (the client the gateway authenticates as at the issuer's introspection endpoint) or neither`,
    );
  }
  if (values.OAUTH_TOKEN_MODE === "introspection" && clientId === "") {
    throw new ConfigError(
      "OAUTH_TOKEN_MODE",
      "is introspection but OAUTH_INTROSPECTION_CLIENT_ID and OAUTH_INTROSPECTION_CLIENT_SECRET are not set; register a confidential client for introspection at the issuer and set both, or set OAUTH_TOKEN_MODE=jwt",
    );
  }
  if (values.OAUTH_TOKEN_MODE === "jwt" && clientId !== "") {
    context.warnings.push(
      "OAUTH_INTROSPECTION_CLIENT_ID is set but OAUTH_TOKEN_MODE=jwt never introspects; set OAUTH_TOKEN_MODE=auto or introspection to use it, or remove it",
    );
  }
  const caRaw = values.OAUTH_CA_BUNDLE?.trim() ?? "";
  const caPem = readOptionalCaBundle("OAUTH_CA_BUNDLE", {
    value: values.OAUTH_CA_BUNDLE,
    home: context.home,
  });
  const audience = values.OAUTH_AUDIENCE?.trim() ?? "";
  if (/\s/.test(audience)) {
    throw new ConfigError(
      "OAUTH_AUDIENCE",
      "holds whitespace; set the one value the identity provider puts in the tokens' aud claim (e.g. the application's client id), or leave it unset to use OAUTH_RESOURCE",
    );
  }
  return {
    ...common,
    issuer,
    resource,
    ...(audience === "" ? {} : { audience }),
    ...(groupsClaim === undefined ? {} : { groupsClaim }),
    ...(clientId === "" ? {} : {
      introspection: { clientId, clientSecret: new Secret(clientSecret) },
    }),
    ...(caPem === undefined
      ? {}
      : { caBundlePath: expandHome(caRaw, context.home), caPem }),
  };
}
