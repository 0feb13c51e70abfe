/**
 * The CyberArk side of an end-to-end test: the CCP emulator serving the
 * test's accounts from one safe to one AppID, a random API key, and the
 * `.env` lines that point a gateway at both.
 *
 * @module
 */
import {
  type RunningCcpEmulator,
  startCcpEmulator,
} from "../../emulator/ccp_emulator.ts";

/** The AppID of the end-to-end tests, as in the manual's examples. */
export const TEST_APP_ID = "MCP-Privileged-Service";

/** A fresh API key for a gateway under test. */
export function randomApiKey(): string {
  return `k-${crypto.randomUUID()}-${crypto.randomUUID()}`;
}

/** A running CCP emulator and how a gateway reaches it. */
export interface CcpFixture {
  readonly emulator: RunningCcpEmulator;
  /** The API key in {@linkcode CcpFixture.gatewayEnv}. */
  readonly key: string;
  /** `MCP_API_KEYS`, `CYBERARK_CCP_URL` and `CYBERARK_APP_ID` for `startGateway()`. */
  readonly gatewayEnv: Record<string, string>;
  /** Stops the emulator. */
  close(): Promise<void>;
}

/** Options of {@linkcode startCcpFixture}. */
export interface CcpFixtureOptions {
  /** The AppID allowed to read the safe; default {@linkcode TEST_APP_ID}. */
  appId?: string;
  /**
   * More Safes the AppID may read; an account names its Safe with a `Safe`
   * property (default: the first argument's Safe).
   */
  moreSafes?: readonly string[];
}

/**
 * Starts the CCP emulator with `accounts` (CyberArk account properties) in
 * `safe`, readable by one AppID, and makes an API key for the gateway.
 */
export async function startCcpFixture(
  safe: string,
  accounts: readonly Record<string, string>[],
  options: CcpFixtureOptions = {},
): Promise<CcpFixture> {
  const appId = options.appId ?? TEST_APP_ID;
  const emulator = await startCcpEmulator({
    data: {
      applications: [{ appId, safes: [safe, ...(options.moreSafes ?? [])] }],
      accounts: accounts.map((account) => ({ Safe: safe, ...account })),
    },
  });
  const key = randomApiKey();
  return {
    emulator,
    key,
    gatewayEnv: {
      MCP_API_KEYS: key,
      CYBERARK_CCP_URL: emulator.url,
      CYBERARK_APP_ID: appId,
    },
    close: () => emulator.close(),
  };
}
