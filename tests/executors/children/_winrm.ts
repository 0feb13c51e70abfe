/**
 * What the WinRM tests share (the PowerShell executor's and the WinRM
 * library's in winrm/): the account the wire-level test server accepts,
 * NTLM transport options for it, a server per test, what the server answers
 * to `Write-Output hi`, and NTLM sessions on a known key.
 *
 * @module
 */
import {
  startWinrmServer,
  type WinrmServer,
  type WinrmServerOptions,
} from "../../support/winrm_server.ts";
import type { TlsFixtures } from "../../support/tls_fixtures.ts";
import type { WinrmTransportOptions } from "../../../executors/children/winrm/winrm_transport.ts";
import { NtlmSession } from "../../../executors/children/winrm/ntlm_session.ts";

/** The password of CORP\alice on the test servers. */
export const PASSWORD = `Pw-${crypto.randomUUID()}`;

/** A test server that accepts CORP\alice over NTLM. */
export const NTLM_SERVER: WinrmServerOptions = {
  auth: "ntlm",
  username: "alice",
  domain: "CORP",
  password: PASSWORD,
};

/** A test server that accepts alice with Basic over HTTPS, with a certificate from `tls`. */
export function basicServer(tls: TlsFixtures): WinrmServerOptions {
  return {
    auth: "basic",
    username: "alice",
    password: PASSWORD,
    tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
  };
}

/** What the test server's run of `Write-Output hi` comes back as. */
export const HI_RUN = {
  exitCode: 0,
  stdout: "hi\n",
  stderr: "",
  hadErrors: false,
  stdoutTruncated: false,
  stderrTruncated: false,
  delivery: "command_line",
  shellDeleted: true,
} as const;

/** Transport options that log on to `server` as CORP\alice over NTLM on HTTP. */
export function ntlmOptions(
  server: WinrmServer,
  extra: Partial<WinrmTransportOptions> = {},
): WinrmTransportOptions {
  return {
    host: "127.0.0.1",
    port: server.port,
    useSsl: false,
    auth: "ntlm",
    tls: { verify: true },
    username: "alice",
    domain: "CORP",
    password: PASSWORD,
    ...extra,
  };
}

/** Runs `body` against a fresh test server, closed afterwards. */
export async function withWinrmServer(
  options: WinrmServerOptions,
  body: (server: WinrmServer) => Promise<void>,
): Promise<void> {
  const server = await startWinrmServer(options);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** The session key and flags an NTLM handshake settles on. */
export interface NtlmKeys {
  /** The exported session key. */
  exportedSessionKey: Uint8Array;
  /** The negotiated flags. */
  flags: number;
}

/** An NTLM session of `role` on `keys`. */
export function ntlmSession(
  role: "client" | "server",
  keys: NtlmKeys,
): NtlmSession {
  return new NtlmSession({
    exportedSessionKey: keys.exportedSessionKey,
    flags: keys.flags,
    role,
  });
}

/** A client and a server session on the same keys, as a handshake leaves them. */
export function ntlmSessions(
  keys: NtlmKeys,
): { client: NtlmSession; server: NtlmSession } {
  return {
    client: ntlmSession("client", keys),
    server: ntlmSession("server", keys),
  };
}
