/**
 * What the in-process WinRM tests share: the account the wire-level test
 * server accepts, NTLM transport options for it, and a server per test.
 *
 * @module
 */
import {
  startWinrmServer,
  type WinrmServer,
  type WinrmServerOptions,
} from "../../../support/winrm_server.ts";
import type { WinrmTransportOptions } from "../../../../executors/children/winrm/winrm_transport.ts";

/** The password of CORP\alice on the test servers. */
export const PASSWORD = `Pw-${crypto.randomUUID()}`;

/** A test server that accepts CORP\alice over NTLM. */
export const NTLM_SERVER: WinrmServerOptions = {
  auth: "ntlm",
  username: "alice",
  domain: "CORP",
  password: PASSWORD,
};

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
