/**
 * The principals section: `MCP_API_KEYS` (`NAME:KEY` or bare keys) and
 * `MCP_API_KEYS_FILE` (`NAME:SHA256HEX` lines), merged into named
 * principals that keep only SHA-256 digests of their keys.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Secret } from "../../vault/secret.ts";
import type { ApiKeyConfig, ApiKeyPrincipal, McpAuthMode } from "./config.ts";
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

/** What {@linkcode parseApiKeyConfig} needs to know of the other settings. */
export interface ApiKeyConfigOptions {
  /** `MCP_AUTH` (default `api_key`): keys are required unless it is `oauth`, and refused then. */
  readonly authMode?: McpAuthMode;
}

/**
 * Builds the principals from both settings; the file is read here, once.
 *
 * @throws {ConfigError} when neither setting holds a key although MCP_AUTH accepts keys, either is set although MCP_AUTH=oauth, a file line is bad, or a name or key repeats
 */
export function parseApiKeyConfig(
  values: EnvValues,
  context: ParseContext,
  options: ApiKeyConfigOptions = {},
): ApiKeyConfig {
  const authMode = options.authMode ?? "api_key";
  if (authMode === "oauth") {
    const set = (["MCP_API_KEYS", "MCP_API_KEYS_FILE"] as const).find((v) =>
      values[v] !== undefined
    );
    if (set !== undefined) {
      throw new ConfigError(
        set,
        "is set but MCP_AUTH=oauth accepts no API key, so its keys would never be accepted; remove it, or set MCP_AUTH=both to accept keys and tokens",
      );
    }
    return { principals: [] };
  }
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
  if (file !== undefined) {
    for (
      const { name, sha256 } of readKeyDigestFile("MCP_API_KEYS_FILE", file)
    ) {
      principals.push({ name, sha256, source: "MCP_API_KEYS_FILE" });
    }
  }
  if (principals.length === 0) {
    throw new ConfigError(
      "MCP_API_KEYS",
      values.MCP_API_KEYS_FILE === undefined
        ? `is not set; set NAME:KEY entries (${KEY_HINT}) or point MCP_API_KEYS_FILE at a file of NAME:SHA256HEX lines${
          authMode === "both"
            ? " (MCP_AUTH=both accepts keys and OAuth tokens; set MCP_AUTH=oauth for tokens only)"
            : ""
        }`
        : `is not set and MCP_API_KEYS_FILE names no key; add NAME:SHA256HEX lines to the file or set MCP_API_KEYS`,
    );
  }
  checkUniqueKeys(principals, "principal");
  return file === undefined ? { principals } : { principals, file };
}

/** A name and the SHA-256 of its key, as a digest file holds them. */
export interface NamedDigest {
  readonly name: string;
  /** Lowercase hex SHA-256 of the key. */
  readonly sha256: Secret;
}

/**
 * Reads a file of `NAME:SHA256HEX` lines (`MCP_API_KEYS_FILE`,
 * `APPROVERS_FILE`); `#` comments and blank lines are skipped.
 *
 * @throws {ConfigError} naming `variable`, the file and the line
 */
export function readKeyDigestFile(
  variable: string,
  path: string,
): NamedDigest[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      variable,
      `"${path}" cannot be read (${
        fileErrorName(error)
      }); set it to the path of a NAME:SHA256HEX file readable by the service user`,
    );
  }
  const digests: NamedDigest[] = [];
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `"${path}" line ${index + 1}`;
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon).trim();
    const digest = colon < 0 ? "" : line.slice(colon + 1).trim();
    if (colon < 0 || !PRINCIPAL_NAME_PATTERN.test(name)) {
      throw new ConfigError(
        variable,
        `${at} has no valid name (1 to 64 letters, digits, '.', '_' or '-') before a colon; ${LINE_FIX}`,
      );
    }
    if (!/^[0-9a-f]{64}$/.test(digest)) {
      throw new ConfigError(
        variable,
        `${at} (${name}) has no SHA-256 digest of 64 lowercase hex digits after the colon; ${LINE_FIX}`,
      );
    }
    digests.push({ name, sha256: new Secret(digest) });
  }
  return digests;
}

/** A named key digest and the setting it came from, for {@linkcode checkUniqueKeys}. */
export interface SourcedDigest extends NamedDigest {
  /** The variable that configured it. */
  readonly source: string;
}

/**
 * Refuses two entries with one name or one key.
 *
 * @throws {ConfigError} naming the setting of the second entry
 */
export function checkUniqueKeys(
  entries: readonly SourcedDigest[],
  noun: "principal" | "approver",
): void {
  const names = new Map<string, SourcedDigest>();
  const digests = new Map<string, SourcedDigest>();
  for (const entry of entries) {
    const digest = entry.sha256.reveal();
    const sameKey = digests.get(digest);
    if (sameKey !== undefined) {
      throw new ConfigError(
        entry.source,
        `gives "${sameKey.name}" and "${entry.name}" the same key; give each ${noun} its own key (${KEY_HINT})`,
      );
    }
    const sameName = names.get(entry.name);
    if (sameName !== undefined) {
      throw new ConfigError(
        entry.source,
        `names the ${noun} "${entry.name}" twice${
          sameName.source === entry.source
            ? ""
            : ` (in ${sameName.source} and ${entry.source})`
        }; give each ${noun} its own name`,
      );
    }
    names.set(entry.name, entry);
    digests.set(digest, entry);
  }
}
