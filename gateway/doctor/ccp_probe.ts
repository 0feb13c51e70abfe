/**
 * The CCP probe (manual section 2.3): retrieve a harmless object as the
 * service's AppID and read the answer; the secret, if any, is dropped at
 * once.
 *
 * @module
 */
import type { CcpClient } from "../../vault/ccp_client.ts";
import { CyberArkError } from "../../vault/cyberark_error.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass } from "./_verdicts.ts";

/** What the CCP probe was about. */
export interface CcpProbeContext {
  readonly appId: string;
  /** `host[:port]` of the CCP. */
  readonly endpoint: string;
  readonly safe: string;
  readonly object: string;
}

/** The CCP's answer to the probe: an account (its secret already dropped) or an error. */
export type CcpProbeOutcome = { readonly ok: true } | {
  readonly ok: false;
  readonly error: unknown;
};

/**
 * Classifies the probe as manual section 2.3 does: 200 and 404 APPAP004E
 * (the manual's APPAP007E) mean reachable and trusted; 403 APPAP306E (the
 * manual's APPAP006E) is the Allowed Machines check; refused, TLS, DNS and
 * timeouts are network problems.
 */
export function classifyCcpProbe(
  outcome: CcpProbeOutcome,
  context: CcpProbeContext,
): CheckResult {
  const name = "ccp";
  const at = `CCP ${context.endpoint}`;
  const probe = `safe "${context.safe}", object "${context.object}"`;
  if (outcome.ok) {
    return pass(
      name,
      `${at} answered 200 to AppID ${context.appId} for ${probe}: reachable, trusted, and the AppID can retrieve`,
    );
  }
  const error = outcome.error;
  if (!(error instanceof CyberArkError)) {
    const message = error instanceof Error ? error.message : String(error);
    return fail(
      name,
      `cannot probe ${at}: ${message}`,
      "pass an existing or harmless name with --probe-safe and --probe-object",
    );
  }
  const status = error.httpStatus === undefined
    ? ""
    : ` (HTTP ${error.httpStatus})`;
  switch (error.code) {
    case "APPAP004E":
      return pass(
        name,
        `${at} is reachable and trusts AppID ${context.appId}: it answered APPAP004E${status}, object not found (the manual's APPAP007E), for ${probe}`,
      );
    case "APPAP306E":
    case "APPAP006E":
      return fail(
        name,
        `${at} refused AppID ${context.appId}: ${error.code}${status}, application authentication failed (the manual's APPAP006E)`,
        "add this host's address, as the CCP sees it, to the AppID's Allowed Machines in PVWA, or register its client certificate",
      );
    case "APPAP008E":
      return fail(
        name,
        `${at} does not know AppID ${context.appId}: APPAP008E${status}`,
        "set CYBERARK_APP_ID to the Application ID exactly as in PVWA (case-sensitive)",
      );
    case "CONNECTION_REFUSED":
      return fail(
        name,
        `${at} refused the connection`,
        "check the host and port of CYBERARK_CCP_URL and that the firewall lets this host reach the CCP (port 443)",
      );
    case "TLS_ERROR":
      return fail(
        name,
        `TLS with ${at} failed`,
        "set CYBERARK_VERIFY_SSL to the path of the CA bundle that issued the CCP's certificate, and check that the URL's host name is in that certificate",
      );
    case "TIMEOUT":
      return fail(
        name,
        `${at} did not answer in time`,
        "check the network path and firewall (a silent drop looks like this), or raise CYBERARK_TIMEOUT_SECONDS",
      );
    case "DNS_ERROR":
      return fail(
        name,
        `the host name of ${at} does not resolve`,
        "check CYBERARK_CCP_URL and this host's DNS",
      );
    default:
      // The message already names the action, the cause and the fix.
      return fail(
        name,
        error.httpStatus === undefined
          ? `the request to ${at} failed (${error.code})`
          : `${at} answered ${error.code}${status}`,
        error.message,
      );
  }
}

/** Retrieves the probe object and classifies the answer; the secret is dropped at once. */
export async function probeCcp(
  client: CcpClient,
  context: CcpProbeContext,
): Promise<CheckResult> {
  let outcome: CcpProbeOutcome;
  try {
    await client.retrieve({
      safe: context.safe,
      object: context.object,
      reason: "mcp-privileged doctor: CCP reachability probe",
    });
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error };
  }
  return classifyCcpProbe(outcome, context);
}
