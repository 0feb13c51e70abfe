/**
 * What the configuration tests share: a valid minimal environment, and
 * loading it with overrides.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import {
  type Config,
  ConfigError,
  loadConfig,
} from "../../../gateway/config/mod.ts";

/** A valid API key of 36 characters. */
export const KEY = "k".repeat(16) + "0123456789abcdef0123";

/** The three required variables. */
export const BASE: Readonly<Record<string, string>> = {
  MCP_API_KEYS: KEY,
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

/** A PEM CA bundle as the config checks it (a certificate marker). */
export const PEM =
  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** Variables to set on top of {@linkcode BASE}; `undefined` removes one. */
export type Overrides = Record<string, string | undefined>;

/**
 * Loads {@linkcode BASE} with overrides; `home` is where `~/` paths point
 * (/home/mcpuser unless a test's files live elsewhere).
 */
export function load(overrides: Overrides, home = "/home/mcpuser"): Config {
  const env: Record<string, string> = { ...BASE };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return loadConfig({ env, home });
}

/** The ConfigError loading with overrides (and `home`) throws. */
export function failure(overrides: Overrides, home?: string): ConfigError {
  return assertThrows(() => load(overrides, home), ConfigError);
}

/**
 * Asserts that each case fails as one line that starts with the variable
 * and contains the text.
 */
export function assertOneLineErrors(
  cases: readonly (readonly [Overrides, string, string])[],
): void {
  for (const [overrides, variable, text] of cases) {
    const error = failure(overrides);
    assertEquals(
      error.variable,
      variable,
      `variable for ${JSON.stringify(overrides)}`,
    );
    assertStringIncludes(error.message, text);
    assertMatch(
      error.message,
      new RegExp(`^Invalid configuration: ${variable} `),
    );
    assert(!error.message.includes("\n"), "one line");
  }
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export function withTempDir(body: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync();
  try {
    body(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
