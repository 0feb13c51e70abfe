/**
 * `deno task doctor`: the operations manual's hardening checklist (section 13)
 * and CCP reachability test (section 2.3), run from the service host.
 *
 * Each check is a pure function from what was observed (the validated
 * configuration, file modes and owners, the CCP's answer, the probe
 * executor's outcomes) to one {@linkcode CheckResult}; {@linkcode runDoctor}
 * gathers those observations. No check ever puts a key, a password or a
 * retrieved secret into its result.
 *
 * @module
 */
import type { HandleStore } from "../../vault/handle_store.ts";
import type { CcpClient } from "../../vault/ccp_client.ts";
import { CyberArkError } from "../../vault/cyberark_error.ts";
import type {
  ProbeOperation,
  ProbeResult,
} from "../../executors/protocol/mod.ts";
import type {
  ExecutorOutcome,
  ExecutorSpawner,
} from "../../executors/spawner/mod.ts";
import type {
  Config,
  CyberArkConfig,
  HandleConfig,
  HttpConfig,
  SshKnownHosts,
} from "../config/mod.ts";
import { parseKnownHostsDetailed } from "../known_hosts.ts";

/** Outcome of one check; any `FAIL` makes the doctor exit with 1. */
export type CheckStatus = "PASS" | "WARN" | "FAIL";

/** One line of the doctor's report. */
export interface CheckResult {
  readonly status: CheckStatus;
  /** Short name, e.g. `api-keys`. */
  readonly check: string;
  /** What was found; never a secret. */
  readonly detail: string;
  /** What to do; absent on `PASS`. */
  readonly fix?: string;
}

/** Anything that reveals a plaintext on request, like `vault/secret.ts`'s `Secret`. */
export interface SecretValue {
  /** Returns the plaintext. */
  reveal(): string;
}

/** Mode and owner of a file, or why it could not be examined. */
export type FileFacts =
  | { readonly kind: "file"; readonly mode: number; readonly uid: number }
  | { readonly kind: "missing" }
  | { readonly kind: "unreadable"; readonly reason: string };

/** The user running the doctor (the service user, when run as documented). */
export interface RunningUser {
  readonly uid: number;
  /** Login name from /etc/passwd, when known. */
  readonly name?: string;
}

/** The manual's checklist: handles expire within 5 minutes. */
export const MAX_HANDLE_TTL_SECONDS = 300;
/** Bits of a key below which it counts as weak (32 random hex characters). */
export const MIN_KEY_BITS = 128;
const KEY_FIX = "replace it with a random key: openssl rand -hex 32";

function pass(check: string, detail: string): CheckResult {
  return { status: "PASS", check, detail };
}

function warn(check: string, detail: string, fix: string): CheckResult {
  return { status: "WARN", check, detail, fix };
}

function fail(check: string, detail: string, fix: string): CheckResult {
  return { status: "FAIL", check, detail, fix };
}

/** Formats a result as `STATUS check: detail; fix`. */
export function formatCheck(result: CheckResult): string {
  const line = `${result.status} ${result.check}: ${result.detail}`;
  return result.fix === undefined ? line : `${line}; ${result.fix}`;
}

/** 1 when any check failed, else 0. */
export function doctorExitCode(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === "FAIL") ? 1 : 0;
}

/** What can be said about a key's strength without showing it. */
export interface KeyStrength {
  readonly length: number;
  /** Distinct characters. */
  readonly distinct: number;
  /** Length times log2 of the alphabet its characters come from. */
  readonly bits: number;
  /** Share of the key taken by its most frequent character. */
  readonly topShare: number;
  /** True when the key is a shorter string repeated. */
  readonly repeats: boolean;
}

/** Measures a key; only numbers leave this function. */
export function keyStrength(key: string): KeyStrength {
  const counts = new Map<string, number>();
  for (const char of key) counts.set(char, (counts.get(char) ?? 0) + 1);
  const alphabet = /^[0-9a-f]+$/.test(key) || /^[0-9A-F]+$/.test(key)
    ? 16
    : (/[a-z]/.test(key) ? 26 : 0) + (/[A-Z]/.test(key) ? 26 : 0) +
      (/[0-9]/.test(key) ? 10 : 0) + (/[^a-zA-Z0-9]/.test(key) ? 32 : 0);
  let repeats = false;
  for (let period = 1; period <= key.length / 2 && !repeats; period++) {
    if (key.length % period !== 0) continue;
    repeats = key.slice(0, period).repeat(key.length / period) === key;
  }
  return {
    length: key.length,
    distinct: counts.size,
    bits: Math.floor(key.length * Math.log2(Math.max(alphabet, 1))),
    topShare: key.length === 0 ? 1 : Math.max(...counts.values()) / key.length,
    repeats,
  };
}

/** Why a key looks weak, or `undefined` when it does not. */
function weakness(strength: KeyStrength): string | undefined {
  if (strength.repeats) return "is a shorter string repeated";
  if (strength.bits < MIN_KEY_BITS) {
    return `carries about ${strength.bits} bits, under ${MIN_KEY_BITS}`;
  }
  if (strength.distinct < 10) {
    return `uses only ${strength.distinct} distinct characters`;
  }
  if (strength.topShare > 1 / 3) {
    return `is ${Math.round(strength.topShare * 100)}% one character`;
  }
  return undefined;
}

/**
 * Counts the API keys and judges their strength (checklist: strong random
 * keys of at least 32 characters). Keys are never shown, only numbered.
 */
export function checkApiKeys(keys: readonly SecretValue[]): CheckResult {
  const name = "api-keys";
  if (keys.length === 0) {
    return fail(name, "MCP_API_KEYS holds no key", KEY_FIX);
  }
  const plain = keys.map((k) => k.reveal());
  const which = (i: number): string => `key ${i + 1} of ${keys.length}`;
  const short = plain.findIndex((k) => k.length < 32);
  if (short >= 0) {
    return fail(
      name,
      `${which(short)} is ${plain[short]!.length} characters, under 32`,
      KEY_FIX,
    );
  }
  const strengths = plain.map(keyStrength);
  const findings: string[] = [];
  strengths.forEach((s, i) => {
    const why = weakness(s);
    if (why !== undefined) findings.push(`${which(i)} ${why}`);
  });
  plain.forEach((k, i) => {
    const first = plain.indexOf(k);
    if (first !== i) findings.push(`keys ${first + 1} and ${i + 1} are equal`);
  });
  if (findings.length > 0) {
    return warn(
      name,
      `${keys.length} key(s); ${findings.join(", ")}`,
      `${KEY_FIX}, one per client`,
    );
  }
  const shortest = Math.min(...strengths.map((s) => s.length));
  const bits = Math.min(...strengths.map((s) => s.bits));
  return pass(
    name,
    `${keys.length} key(s), each at least ${shortest} characters and about ${bits} bits`,
  );
}

/** The placeholder `changeme` is nowhere among the secrets. */
export function checkChangeme(
  keys: readonly SecretValue[],
  pfxPassword?: SecretValue,
): CheckResult {
  const name = "changeme";
  const where: string[] = [];
  if (keys.some((k) => /changeme/i.test(k.reveal()))) {
    where.push("MCP_API_KEYS");
  }
  if (pfxPassword !== undefined && /changeme/i.test(pfxPassword.reveal())) {
    where.push("CYBERARK_CERT_PFX_PASSWORD");
  }
  return where.length === 0
    ? pass(
      name,
      'the placeholder "changeme" is in neither MCP_API_KEYS nor CYBERARK_CERT_PFX_PASSWORD',
    )
    : fail(
      name,
      `${where.join(" and ")} contain(s) the placeholder "changeme"`,
      "replace it with the real value (API keys: openssl rand -hex 32)",
    );
}

/** HANDLE_SINGLE_USE, HANDLE_TTL_SECONDS and HANDLE_HOST_BINDING. */
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

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}

function ownerText(uid: number, user: RunningUser): string {
  return uid === user.uid
    ? `owned by ${user.name ?? `uid ${uid}`} (the user running doctor)`
    : `owned by uid ${uid}, not by ${
      user.name ?? `uid ${user.uid}`
    } who runs doctor`;
}

/**
 * The `.env` file: mode 600 (or stricter) and owned by the service user.
 * `path` is `undefined` when ENV_FILE is set empty (configuration from the
 * environment only, as in the container).
 */
export function checkEnvFile(
  path: string | undefined,
  facts: FileFacts,
  user: RunningUser,
): CheckResult {
  const name = "env-file";
  if (path === undefined) {
    return pass(name, "ENV_FILE is empty: settings come from the environment");
  }
  if (facts.kind === "missing") {
    return warn(
      name,
      `${path} does not exist: only the environment was checked`,
      "run doctor where the service runs (its ENV_FILE, or .env next to deno.json)",
    );
  }
  if (facts.kind === "unreadable") {
    return fail(
      name,
      `cannot examine ${path} (${facts.reason})`,
      `chown the file to the service user and chmod 600 ${path}`,
    );
  }
  if ((facts.mode & 0o077) !== 0) {
    return fail(
      name,
      `${path} has mode ${
        modeText(facts.mode)
      }: other users can read the API keys`,
      `chmod 600 ${path}`,
    );
  }
  if (facts.uid !== user.uid) {
    return warn(
      name,
      `${path} has mode ${modeText(facts.mode)}, ${ownerText(facts.uid, user)}`,
      `chown it to the service user and run doctor as that user (sudo -u mcpuser deno task doctor)`,
    );
  }
  return pass(
    name,
    `${path} has mode ${modeText(facts.mode)}, ${ownerText(facts.uid, user)}`,
  );
}

/** The PFX of CYBERARK_CERT_PFX_PATH: mode 400, owned by the service user. */
export function checkPfxFile(
  path: string | undefined,
  facts: FileFacts,
  user: RunningUser,
): CheckResult {
  const name = "cyberark-pfx";
  if (path === undefined) {
    return pass(
      name,
      "CYBERARK_CERT_PFX_PATH is not set (no client certificate)",
    );
  }
  if (facts.kind !== "file") {
    return fail(
      name,
      `cannot examine ${path} (${
        facts.kind === "missing" ? "not found" : facts.reason
      })`,
      `copy the PFX there, chown it to the service user and chmod 400 ${path}`,
    );
  }
  if ((facts.mode & 0o077) !== 0) {
    return fail(
      name,
      `${path} has mode ${
        modeText(facts.mode)
      }: other users can copy the client key`,
      `chmod 400 ${path}`,
    );
  }
  if ((facts.mode & 0o777) !== 0o400 || facts.uid !== user.uid) {
    return warn(
      name,
      `${path} has mode ${modeText(facts.mode)}, ${ownerText(facts.uid, user)}`,
      `chown it to the service user and chmod 400 ${path}`,
    );
  }
  return pass(
    name,
    `${path} has mode 400, ${ownerText(facts.uid, user)}`,
  );
}

/** What reading the known_hosts file gave. */
export type KnownHostsFacts =
  | { readonly kind: "text"; readonly text: string; readonly mode: number }
  | { readonly kind: "missing" }
  | { readonly kind: "unreadable"; readonly reason: string };

/** SSH_KNOWN_HOSTS: not `disable`, readable, not writable by others, non-empty. */
export function checkKnownHosts(
  setting: SshKnownHosts,
  facts: KnownHostsFacts,
): CheckResult {
  const name = "ssh-known-hosts";
  if (setting.mode === "disable") {
    return fail(
      name,
      "SSH_KNOWN_HOSTS=disable: SSH host keys are not verified",
      "set SSH_KNOWN_HOSTS to a known_hosts file (ssh-keyscan -H HOST >> FILE)",
    );
  }
  const path = setting.path;
  const scan = `ssh-keyscan -H HOST >> ${path} (as the service user)`;
  if (facts.kind === "missing") {
    return warn(
      name,
      `${path} does not exist: ssh_execute refuses every host`,
      `add the targets' keys: ${scan}`,
    );
  }
  if (facts.kind === "unreadable") {
    return fail(
      name,
      `cannot read ${path} (${facts.reason}): ssh_execute refuses every host`,
      `make it readable by the service user: chown mcpuser ${path}; chmod 640 ${path}`,
    );
  }
  if ((facts.mode & 0o022) !== 0) {
    return fail(
      name,
      `${path} has mode ${modeText(facts.mode)}: other users can add host keys`,
      `chmod 644 ${path} (or 440, owned by the service user)`,
    );
  }
  const parsed = parseKnownHostsDetailed(facts.text);
  const keys = parsed.entries.filter((e) => !e.revoked).length;
  if (keys === 0) {
    return warn(
      name,
      `${path} holds no host key: ssh_execute refuses every host`,
      `add the targets' keys: ${scan}`,
    );
  }
  if (parsed.skipped.length > 0) {
    const lines = parsed.skipped.slice(0, 5).map((s) => s.line).join(", ");
    return warn(
      name,
      `${path}: ${keys} host key(s), ${parsed.skipped.length} unreadable line(s) (line ${lines})`,
      `fix or delete those lines; re-scan them with ${scan}`,
    );
  }
  return pass(name, `${path}: ${keys} host key(s)`);
}

/**
 * The handle store answers: a lookup of random keys must come back
 * `unknown` (reachable, nothing leaked, nothing consumed).
 */
export async function checkHandleStore(
  setting: Config["handleStore"],
  store: HandleStore | undefined,
): Promise<CheckResult> {
  const name = "handle-store";
  if (setting.kind !== "redis" || store === undefined) {
    return pass(
      name,
      "HANDLE_STORE=memory: handles live in this process (one replica, HANDLE_STORE=redis shares them between several)",
    );
  }
  const random = (): string =>
    Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
  try {
    const result = await store.peek({
      storeKey: random(),
      encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
    });
    if (result.status !== "unknown") {
      return fail(
        name,
        `a lookup of a random key answered "${result.status}"`,
        "check that REDIS_KEY_PREFIX is used by this service only",
      );
    }
    return pass(name, "HANDLE_STORE=redis answers (a random key is unknown)");
  } catch (error) {
    return fail(
      name,
      error instanceof Error ? error.message : String(error),
      "check REDIS_URL, the password and that Redis is reachable from this host",
    );
  }
}

/** TLS to the targets (WinRM HTTPS and databases) verifies certificates and host names. */
export function checkTargetTls(
  config: Pick<Config, "winrmTls" | "databases">,
): CheckResult {
  const name = "target-tls";
  const weak: string[] = [];
  if (!config.winrmTls.verifyTls) weak.push("WINRM_VERIFY_SSL=false");
  const { postgres, mysql, mssql } = config.databases;
  if (postgres.sslmode !== "verify-full") {
    weak.push(`PG_SSLMODE=${postgres.sslmode}`);
  }
  if (mysql.mode !== "verify_identity") weak.push(`MYSQL_SSL=${mysql.mode}`);
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
  const everyone = http.trustedProxies.filter((p) => /\/0$/.test(p));
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
  const localProxy = http.trustedProxies.some((p) =>
    p === "127.0.0.1" || p === "::1" || p.startsWith("127.")
  );
  const where = `${http.hostname}:${http.port}`;
  if (wildcard && localProxy) {
    return warn(
      name,
      `listening on ${where} while trusting a local proxy: clients can bypass it`,
      "set HOST=127.0.0.1 when nginx runs on this host",
    );
  }
  const proxies = http.trustedProxies.length === 0
    ? "no trusted proxy (client_ip is the socket peer)"
    : `trusted proxies ${http.trustedProxies.join(",")}`;
  return pass(name, `plain HTTP on ${where}, ${proxies}`);
}

/** The service (and so the doctor) runs as a dedicated non-root user. */
export function checkServiceUser(user: RunningUser): CheckResult {
  const name = "service-user";
  return user.uid === 0
    ? warn(
      name,
      "doctor runs as root: the service must run as a dedicated non-root user",
      "run the service and doctor as mcpuser (sudo -u mcpuser deno task doctor)",
    )
    : pass(name, `running as ${user.name ?? "uid"} (uid ${user.uid})`);
}

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

/** What the probe executor did for each action of the sandbox self-test. */
export interface SandboxObservations {
  /** Its own target; must be `allowed`. */
  readonly target: string;
  readonly connectTarget: ProbeResult | string;
  /** Another port on 127.0.0.1; must be `denied`. */
  readonly other: string;
  readonly connectOther: ProbeResult | string;
  /** A file the gateway can read; must be `denied`. */
  readonly file: string;
  readonly readFile: ProbeResult | string;
  /** The environment; must be `denied`. */
  readonly readEnv: ProbeResult | string;
}

/**
 * Judges the executor sandbox self-test: the probe reaches its target and
 * is denied (NotCapable) another port, a file read and the environment.
 * A string observation is why the probe could not run at all.
 */
export function classifySandbox(seen: SandboxObservations): CheckResult {
  const name = "executor-sandbox";
  const target = seen.connectTarget;
  if (typeof target === "string") {
    return fail(
      name,
      `cannot run the probe executor: ${target}`,
      "run doctor with --allow-run=<the real path of deno> as `deno task doctor` does (deno eval 'console.log(Deno.execPath())'), and fill the module cache with deno task cache",
    );
  }
  if (target.outcome !== "allowed") {
    return fail(
      name,
      `the probe executor could not reach its own target ${seen.target} (${target.outcome}: ${target.detail})`,
      "check that this Deno is 2.9.6 and that executors/spawner/spawner.ts grants --allow-net=HOST:PORT",
    );
  }
  const escapes: string[] = [];
  const expectDenied = (what: string, result: ProbeResult | string): void => {
    if (typeof result === "string") {
      escapes.push(`${what} could not be tried (${result})`);
    } else if (
      result.outcome !== "denied" || result.errorName !== "NotCapable"
    ) {
      escapes.push(`${what} was ${result.outcome} (${result.detail})`);
    }
  };
  expectDenied(`connecting to ${seen.other}`, seen.connectOther);
  expectDenied(`reading ${seen.file}`, seen.readFile);
  expectDenied("reading the environment", seen.readEnv);
  if (escapes.length > 0) {
    return fail(
      name,
      `the executor sandbox is not closed: ${escapes.join("; ")}`,
      "run the service with the Deno version and flags of deno.json's start task; never add permissions to executors/spawner/mod.ts",
    );
  }
  return pass(
    name,
    `a probe executor reached its target ${seen.target} and was denied ${seen.other}, reading ${seen.file} and the environment`,
  );
}

/** Runs the sandbox self-test through the real spawner and judges it. */
export async function checkExecutorSandbox(
  spawner: ExecutorSpawner,
  options: { readonly file?: string } = {},
): Promise<CheckResult> {
  const file = options.file ?? "/etc/passwd";
  using target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // Accept and drop whatever connects, so a connect never hangs.
  const drain = (listener: Deno.Listener): void => {
    (async () => {
      try {
        for await (const connection of listener) connection.close();
      } catch {
        // Closed at the end of the check.
      }
    })();
  };
  drain(target);
  drain(other);
  const host = { host: "127.0.0.1", port: target.addr.port };
  const otherAddress = { host: "127.0.0.1", port: other.addr.port };
  const run = async (
    operation: Omit<ProbeOperation, "kind">,
  ): Promise<ProbeResult | string> => {
    let outcome: ExecutorOutcome;
    try {
      outcome = await spawner.run({
        target: host,
        credential: {
          username: "doctor",
          kind: "password",
          secret: { reveal: () => "doctor-probe-not-a-secret" },
        },
        operation: { kind: "probe", ...operation },
        timeoutMs: 20_000,
      });
    } catch (error) {
      return error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
    }
    if (!outcome.ok) return `${outcome.error.code}: ${outcome.error.message}`;
    return outcome.result.kind === "probe"
      ? outcome.result
      : `unexpected ${outcome.result.kind} result`;
  };
  const connectTarget = await run({ action: "connect_target" });
  const observations: SandboxObservations = typeof connectTarget === "string"
    ? {
      target: `${host.host}:${host.port}`,
      connectTarget,
      other: `${otherAddress.host}:${otherAddress.port}`,
      connectOther: "not tried",
      file,
      readFile: "not tried",
      readEnv: "not tried",
    }
    : {
      target: `${host.host}:${host.port}`,
      connectTarget,
      other: `${otherAddress.host}:${otherAddress.port}`,
      connectOther: await run({
        action: "connect_other",
        other: otherAddress,
      }),
      file,
      readFile: await run({ action: "read_file", path: file }),
      readEnv: await run({ action: "read_env" }),
    };
  return classifySandbox(observations);
}

/** Everything {@linkcode runDoctor} needs besides the configuration. */
export interface DoctorOptions {
  /** The `.env` read, or `undefined` when ENV_FILE is empty. */
  readonly envFile: string | undefined;
  readonly user: RunningUser;
  /** The CCP client built from the configuration; omit to skip the probe. */
  readonly ccp?: CcpClient;
  readonly probeSafe: string;
  readonly probeObject: string;
  /** The spawner for the sandbox self-test; omit to skip it. */
  readonly spawner?: ExecutorSpawner;
  /** The shared handle store (HANDLE_STORE=redis) to probe; omit for memory. */
  readonly handleStore?: HandleStore;
}

/** Mode and owner of a file. */
export function fileFacts(path: string): FileFacts {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return { kind: "unreadable", reason: "not a file" };
    return { kind: "file", mode: info.mode ?? 0, uid: info.uid ?? -1 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "unreadable", reason: errorText(error) };
  }
}

/** Reads a known_hosts file with its mode. */
export function knownHostsFacts(path: string): KnownHostsFacts {
  try {
    const text = Deno.readTextFileSync(path);
    return { kind: "text", text, mode: Deno.statSync(path).mode ?? 0 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "unreadable", reason: errorText(error) };
  }
}

function errorText(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno permissions";
  }
  return error instanceof Error ? error.message : String(error);
}

/** Runs every check in the order of the manual's checklist. */
export async function runDoctor(
  config: Config,
  options: DoctorOptions,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [
    checkApiKeys(config.apiKeys),
    checkChangeme(config.apiKeys, config.cyberark.pfxPassword),
    ...checkHandles(config.handles),
    checkCyberArkTls(config.cyberark),
    checkPfxFile(
      config.cyberark.pfxPath,
      config.cyberark.pfxPath === undefined
        ? { kind: "missing" }
        : fileFacts(config.cyberark.pfxPath),
      options.user,
    ),
    checkKnownHosts(
      config.sshKnownHosts,
      config.sshKnownHosts.mode === "disable"
        ? { kind: "missing" }
        : knownHostsFacts(config.sshKnownHosts.path),
    ),
    checkLogging(config.log),
    checkTargetTls(config),
    checkEnvFile(
      options.envFile,
      options.envFile === undefined
        ? { kind: "missing" }
        : fileFacts(options.envFile),
      options.user,
    ),
    checkAllowedHosts(config.http),
    checkListener(config.http),
    checkServiceUser(options.user),
  ];
  if (options.ccp !== undefined) {
    results.push(
      await probeCcp(options.ccp, {
        appId: config.cyberark.appId,
        endpoint: config.cyberark.ccpUrl.host,
        safe: options.probeSafe,
        object: options.probeObject,
      }),
    );
  }
  results.push(await checkHandleStore(config.handleStore, options.handleStore));
  if (options.spawner !== undefined) {
    // The most sensitive file the gateway reads is the best thing to try.
    const envFileExists = options.envFile !== undefined &&
      fileFacts(options.envFile).kind === "file";
    results.push(
      await checkExecutorSandbox(options.spawner, {
        file: envFileExists ? options.envFile! : "/etc/passwd",
      }),
    );
  }
  return results;
}
