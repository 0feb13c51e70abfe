/**
 * What the doctor tests share: strong keys, the running user, a loaded
 * configuration, and a result as `STATUS check`.
 */
import {
  type ApiKeyConfig,
  apiKeyDigest,
  type Config,
  keyStrength,
  loadConfig,
} from "../../../gateway/config/mod.ts";
import type { CheckResult } from "../../../gateway/doctor/mod.ts";
import { Secret } from "../../../vault/secret.ts";

/** The AppID of the test configuration. */
export const APP = "MCP-Privileged-Service";
/** A random hex key (256 bits). */
export const STRONG =
  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/** A random key of mixed characters. */
export const STRONG_2 = "Zq4+vN7x!rT2mW9sLp3@kB8yHc6&jF1dGe5#";
/** The user the checks see as running the doctor. */
export const USER = { uid: 1000, name: "mcpuser" };
/** A hashed known_hosts line with an Ed25519 key. */
export const ED25519_LINE =
  "|1|gSHU5MkgbHRpdGRQeTp2u4X3WOw=|cJW0X6aY0VNrFZs4U0GRlS84IqA= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** A valid configuration with a strong key, plus `env`. */
export function config(env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      MCP_API_KEYS: STRONG,
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: APP,
      ...env,
    },
    home: "/home/mcpuser",
  });
}

/**
 * Principals `key1`, `key2`... with these keys, measured as loading
 * measures them (without its length checks, to test the doctor's own).
 */
export function keyConfig(...values: string[]): ApiKeyConfig {
  return {
    principals: values.map((key, i) => ({
      name: `key${i + 1}`,
      sha256: new Secret(apiKeyDigest(key)),
      source: "MCP_API_KEYS" as const,
      strength: keyStrength(key),
    })),
  };
}

/** A result as `STATUS check`. */
export function statusOf(result: CheckResult): string {
  return `${result.status} ${result.check}`;
}
