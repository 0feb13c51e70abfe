/**
 * The principals section: `MCP_API_KEYS` (`NAME:KEY` or bare keys) and
 * `MCP_API_KEYS_FILE` (`NAME:SHA256HEX` lines), merged into named
 * principals that keep only SHA-256 digests of their keys.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Secret } from "../../vault/secret.ts";
import type { ApiKeyConfig, ApiKeyPrincipal } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { type EnvValues, PRINCIPAL_NAME_PATTERN } from "./env_schema.ts";
import { keyStrength } from "./key_strength.ts";
import { expandHome, fileErrorName } from "./_paths.ts";
import type { ParseContext } from "./_parse_context.ts";

const KEY_HINT = "generate one with: openssl rand -hex 32";
const LINE_FIX =
  'write NAME:SHA256HEX, the digest from: printf %s "$KEY" | sha256sum';

/** Lowercase hex SHA-256 of an API key, as `sha256sum` prints it. */
export function apiKeyDigest(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/**
 * The name of a key configured without one: the first 8 hex digits of a
 * domain-separated digest, the key id earlier versions logged.
 */
export function unnamedKeyName(key: string): string {
  return createHash("sha256").update(`mcp-privileged/api-key\0${key}`)
    .digest("hex").slice(0, 8);
}

/**
 * Builds the principals from both settings; the file is read here, once.
 *
 * @throws {ConfigError} when neither setting holds a key, a file line is bad, or a name or key repeats
 */
export function parseApiKeyConfig(
  values: EnvValues,
  context: ParseContext,
): ApiKeyConfig {
  const principals: ApiKeyPrincipal[] = [];
  for (const entry of values.MCP_API_KEYS ?? []) {
    const key = entry.key.reveal();
    principals.push({
      name: entry.name ?? unnamedKeyName(key),
      sha256: new Secret(apiKeyDigest(key)),
      source: "MCP_API_KEYS",
      strength: keyStrength(key),
    });
  }
  const raw = values.MCP_API_KEYS_FILE?.trim() ?? "";
  const file = raw === "" ? undefined : expandHome(raw, context.home);
  if (file !== undefined) principals.push(...readApiKeysFile(file));
  if (principals.length === 0) {
    throw new ConfigError(
      "MCP_API_KEYS",
      values.MCP_API_KEYS_FILE === undefined
        ? `is not set; set NAME:KEY entries (${KEY_HINT}) or point MCP_API_KEYS_FILE at a file of NAME:SHA256HEX lines`
        : `is not set and MCP_API_KEYS_FILE names no key; add NAME:SHA256HEX lines to the file or set MCP_API_KEYS`,
    );
  }
  checkUnique(principals);
  return file === undefined ? { principals } : { principals, file };
}

/**
 * Reads `NAME:SHA256HEX` lines; `#` comments and blank lines are skipped.
 *
 * @throws {ConfigError} naming MCP_API_KEYS_FILE, the file and the line
 */
function readApiKeysFile(path: string): ApiKeyPrincipal[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      "MCP_API_KEYS_FILE",
      `"${path}" cannot be read (${
        fileErrorName(error)
      }); set it to the path of a NAME:SHA256HEX file readable by the service user`,
    );
  }
  const principals: ApiKeyPrincipal[] = [];
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `"${path}" line ${index + 1}`;
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon).trim();
    const digest = colon < 0 ? "" : line.slice(colon + 1).trim();
    if (colon < 0 || !PRINCIPAL_NAME_PATTERN.test(name)) {
      throw new ConfigError(
        "MCP_API_KEYS_FILE",
        `${at} has no valid name (1 to 64 letters, digits, '.', '_' or '-') before a colon; ${LINE_FIX}`,
      );
    }
    if (!/^[0-9a-f]{64}$/.test(digest)) {
      throw new ConfigError(
        "MCP_API_KEYS_FILE",
        `${at} (${name}) has no SHA-256 digest of 64 lowercase hex digits after the colon; ${LINE_FIX}`,
      );
    }
    principals.push({
      name,
      sha256: new Secret(digest),
      source: "MCP_API_KEYS_FILE",
    });
  }
  return principals;
}

function checkUnique(principals: readonly ApiKeyPrincipal[]): void {
  const names = new Map<string, ApiKeyPrincipal>();
  const digests = new Map<string, ApiKeyPrincipal>();
  for (const principal of principals) {
    const digest = principal.sha256.reveal();
    const sameKey = digests.get(digest);
    if (sameKey !== undefined) {
      throw new ConfigError(
        principal.source,
        `gives "${sameKey.name}" and "${principal.name}" the same key; give each principal its own key (${KEY_HINT})`,
      );
    }
    const sameName = names.get(principal.name);
    if (sameName !== undefined) {
      throw new ConfigError(
        principal.source,
        `names the principal "${principal.name}" twice${
          sameName.source === principal.source
            ? ""
            : ` (in MCP_API_KEYS and MCP_API_KEYS_FILE)`
        }; give each principal its own name`,
      );
    }
    names.set(principal.name, principal);
    digests.set(digest, principal);
  }
}
