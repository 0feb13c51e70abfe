/**
 * SSH executor child: runs one shell command over SSH with ssh2.
 *
 * Spawned by the gateway with `--allow-net=HOST:PORT` only. Reads one
 * {@linkcode ExecutorRequest} from stdin, writes one response to stdout and
 * exits 0 (non-zero only when the response cannot be written).
 *
 * Trust boundary: the credential arrives on stdin and goes only to the SSH
 * server, after its host key passed the policy. No error message carries the
 * secret: messages are built from fixed text, and a final pass redacts the
 * secret in case a driver message ever echoes it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import ssh2 from "ssh2";
import type {
  ExecutorFailure,
  ExecutorRequest,
  ExecutorResponse,
  HostKey,
  HostKeyPolicy,
  SshOperation,
} from "../protocol/mod.ts";
import {
  Deadline,
  failed,
  failure,
  isSandboxDenial,
  sandboxDenied,
  serveOneRequest,
  success,
} from "./_kit.ts";

// ssh2 ships no types (and @types/ssh2 is not a dependency): these describe
// only what this file uses.
interface Ssh2Error extends Error {
  level?: string;
  code?: string | number;
}
interface Ssh2Stream {
  on(event: "data", listener: (chunk: Buffer) => void): this;
}
interface Ssh2Channel extends Ssh2Stream {
  stderr: Ssh2Stream;
  on(event: "data", listener: (chunk: Buffer) => void): this;
  on(
    event: "exit",
    listener: (code: number | null, signal?: string) => void,
  ): this;
  on(event: "close", listener: () => void): this;
  signal(name: string): boolean;
  close(): void;
}
interface Ssh2Client {
  on(event: "connect" | "handshake" | "ready" | "close", l: () => void): this;
  on(event: "error", listener: (error: Ssh2Error) => void): this;
  connect(config: Record<string, unknown>): this;
  exec(
    command: string,
    callback: (error: Error | undefined, channel: Ssh2Channel) => void,
  ): boolean;
  setNoDelay(noDelay: boolean): this;
  end(): this;
  destroy(): this;
}
interface Ssh2Module {
  Client: new () => Ssh2Client;
  utils: { parseKey(key: string, passphrase?: string): unknown };
}
const { Client, utils } = ssh2 as unknown as Ssh2Module;

/**
 * Signature algorithms ssh2 can verify for each host key type, strongest
 * first. `ssh-rsa` (SHA-1) and DSA are left out, as in OpenSSH's defaults.
 */
const HOST_KEY_ALGORITHMS: Readonly<Record<string, readonly string[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"],
};
const DEFAULT_HOST_KEY_ORDER: readonly string[] = Object.values(
  HOST_KEY_ALGORITHMS,
).flat();

/** The key a server presented during key exchange. */
interface PresentedKey extends HostKey {
  fingerprint: string;
}

/** Reads the key type from an SSH wire-format public key blob. */
function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const length = blob.readUInt32BE(0);
  if (length > blob.length - 4 || length > 64) return "unknown";
  return blob.subarray(4, 4 + length).toString("latin1");
}

/** `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it. */
function fingerprint(blob: Buffer): string {
  const digest = createHash("sha256").update(blob).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

function describeKeys(keys: HostKey[]): string {
  return keys.map((k) => {
    const blob = Buffer.from(k.key, "base64");
    return `${k.type} ${fingerprint(blob)}`;
  }).join(", ");
}

/**
 * Orders host key algorithms so the server picks a key type we already
 * know: a host with ed25519 and RSA keys, known only by its RSA key, must
 * negotiate RSA, or it would look like a changed key.
 */
function hostKeyAlgorithms(policy: HostKeyPolicy): string[] {
  if (policy.mode !== "verify") return [...DEFAULT_HOST_KEY_ORDER];
  // As OpenSSH's order_hostkeyalgs(): algorithms of known key types first,
  // each group in the default (strongest first) order, not file order.
  const known = new Set(policy.allowed.map((k) => k.type));
  const usable = (algorithm: string): boolean =>
    Object.entries(HOST_KEY_ALGORITHMS).some(([type, algorithms]) =>
      known.has(type) && algorithms.includes(algorithm)
    );
  // The rest stay offered so an unknown or changed key is still presented
  // and reported with its fingerprint instead of a bare negotiation error.
  return [
    ...DEFAULT_HOST_KEY_ORDER.filter(usable),
    ...DEFAULT_HOST_KEY_ORDER.filter((a) => !usable(a)),
  ];
}

/** Applies the host key policy; returns a failure, or `null` to accept. */
function checkHostKey(
  policy: HostKeyPolicy,
  presented: PresentedKey,
  where: string,
): ExecutorFailure | null {
  if (policy.mode === "disabled") return null;
  const same = (k: HostKey): boolean =>
    k.type === presented.type && k.key === presented.key;
  const shown = `${presented.type} key ${presented.fingerprint}`;
  if (policy.revoked.some(same)) {
    return {
      code: "host_key_revoked",
      message:
        `Host key verification failed for ${where}: the server presented ${shown}, which known_hosts marks @revoked; refusing to connect, ask the host's administrator to replace the host key`,
      presentedHostKey: presented,
    };
  }
  if (policy.allowed.some(same)) return null;
  if (policy.allowed.length === 0) {
    return {
      code: "host_key_unknown",
      message:
        `Host key verification failed for ${where}: the host is not in known_hosts (the server presented ${shown}); verify the fingerprint out of band, then add the host with ssh-keyscan -H`,
      presentedHostKey: presented,
    };
  }
  return {
    code: "host_key_mismatch",
    message:
      `Host key verification failed for ${where}: the server presented ${shown}, but known_hosts holds ${
        describeKeys(policy.allowed)
      }; the host key may have changed or the connection may be intercepted, confirm with the host's administrator before replacing the known_hosts entry`,
    presentedHostKey: presented,
  };
}

/** Collects one output stream up to a byte cap, then keeps draining. */
class CappedBuffer {
  #chunks: Buffer[] = [];
  #size = 0;
  #truncated = false;
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  push(chunk: Buffer): void {
    const room = this.#cap - this.#size;
    if (chunk.length <= room) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
      return;
    }
    if (room > 0) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#size += room;
    }
    this.#truncated = true;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  text(): string {
    // A cut inside a multi-byte character decodes to U+FFFD, which is fine.
    return Buffer.concat(this.#chunks, this.#size).toString("utf8");
  }
}

function connectionMessage(error: Ssh2Error, where: string): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return `Cannot connect to ${where}: connection refused; check the host and port and that sshd is running`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `Cannot connect to ${where}: the host name does not resolve; check the spelling or use the IP address`;
    case "ETIMEDOUT":
      return `Cannot connect to ${where}: the connection timed out; check that the host is up and a firewall allows SSH from the gateway`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `Cannot connect to ${where}: no route to the host; check the address and the network path from the gateway`;
    case "ECONNRESET":
    case "EPIPE":
      return `Cannot connect to ${where}: the server closed the connection; check sshd's logs, MaxStartups and any TCP wrappers or fail2ban rules`;
    default:
      return `Cannot connect to ${where}: ${
        error.code ?? error.message
      }; check the host and port`;
  }
}

/** Maps an ssh2 `error` event to a protocol failure. */
function mapClientError(
  error: Ssh2Error,
  where: string,
  username: string,
  kind: "password" | "private_key",
): ExecutorFailure {
  if (isSandboxDenial(error)) {
    return sandboxDenied(where);
  }
  switch (error.level) {
    case "client-socket":
    case "client-dns":
      return {
        code: "connection_failed",
        message: connectionMessage(error, where),
      };
    case "client-timeout":
      return {
        code: "connection_failed",
        message:
          `Cannot connect to ${where}: the SSH handshake timed out; check that the port serves SSH and the host is not overloaded`,
      };
    case "client-authentication":
      return {
        code: "auth_failed",
        message: kind === "password"
          ? `Cannot log in to ${where} as "${username}": Permission denied (password and keyboard-interactive refused); check the credential in CyberArk, that the target allows password authentication and that the account is not locked`
          : `Cannot log in to ${where} as "${username}": Permission denied (publickey refused); check that the key is in the account's authorized_keys and that the account is not locked`,
      };
    case "handshake":
    case "protocol":
      if (/lost before handshake/i.test(error.message)) {
        return {
          code: "connection_failed",
          message:
            `Cannot establish an SSH session with ${where}: the server closed the connection before the SSH handshake; check that the port serves SSH (not another service) and that sshd accepts the gateway (MaxStartups, TCP wrappers, fail2ban)`,
        };
      }
      return {
        code: "connection_failed",
        message:
          `Cannot establish an SSH session with ${where}: ${error.message}; check that the server supports a modern key exchange, cipher and host key type`,
      };
    default:
      return {
        code: "driver_error",
        message: `SSH session with ${where} failed: ${error.message}`,
      };
  }
}

/** Checks a private key before connecting, so a bad passphrase is named as such. */
function keyProblem(
  secret: string,
  passphrase: string | undefined,
): string | null {
  let parsed: unknown;
  try {
    parsed = utils.parseKey(secret, passphrase);
  } catch (error) {
    parsed = error instanceof Error ? error : new Error(String(error));
  }
  if (Array.isArray(parsed)) parsed = parsed[0];
  if (!(parsed instanceof Error)) return null;
  const message = parsed.message;
  if (/no passphrase given/i.test(message)) {
    return "the private key is encrypted but no passphrase was supplied; store the key's passphrase with the account";
  }
  if (/bad passphrase|integrity check failed|decrypt/i.test(message)) {
    return "the private key's passphrase is wrong; check the passphrase stored with the account";
  }
  return "the private key cannot be parsed (expected an OpenSSH or PEM private key); check the key stored with the account";
}

/** Runs the request's command; resolves with exactly one response, never rejects. */
function runSsh(
  request: ExecutorRequest,
  operation: SshOperation,
): Promise<ExecutorResponse> {
  const { target, credential, limits } = request;
  const where = `${target.host}:${target.port}`;

  if (credential.kind === "private_key") {
    const problem = keyProblem(credential.secret, credential.passphrase);
    if (problem !== null) {
      return Promise.resolve(
        failure(
          "auth_failed",
          `Cannot log in to ${where} as "${credential.username}": ${problem}`,
        ),
      );
    }
  }

  const deadline = new Deadline(limits);
  return new Promise((resolve) => {
    const client = new Client();
    let stage: "connect" | "handshake" | "auth" | "exec" = "connect";
    let settled = false;
    let presented: PresentedKey | undefined;
    let hostKeyFailure: ExecutorFailure | null = null;
    let channel: Ssh2Channel | undefined;

    const finish = (response: ExecutorResponse): void => {
      if (settled) return;
      settled = true;
      cancelDeadline();
      try {
        client.end();
      } catch {
        // Already closed.
      }
      resolve(response);
    };

    const cancelDeadline = deadline.whenExpired(() => {
      if (stage === "exec") {
        // Best effort: OpenSSH honours "signal" requests, and a remote
        // command without a tty would otherwise outlive the session.
        try {
          channel?.signal("KILL");
        } catch {
          // The channel may be gone already.
        }
        finish(failure(
          "timeout",
          `Command on ${where} did not finish within ${limits.timeoutMs} ms and was sent SIGKILL; raise the timeout or run it in the background (nohup ... &)`,
        ));
      } else {
        finish(failure(
          "connection_failed",
          `Cannot connect to ${where}: no SSH session within ${limits.timeoutMs} ms (stuck at ${stage}); check that the host is up, the port serves SSH and a firewall allows it`,
        ));
      }
    });

    client.on("connect", () => {
      stage = "handshake";
      // Nagle + delayed ACK stall each small SSH packet by up to 40 ms.
      client.setNoDelay(true);
    });
    client.on("handshake", () => {
      stage = "auth";
    });
    client.on("error", (error) => {
      if (hostKeyFailure !== null) {
        finish(failed(hostKeyFailure));
        return;
      }
      finish(failed(mapClientError(
        error,
        where,
        credential.username,
        credential.kind,
      )));
    });
    client.on("close", () => {
      finish(failure(
        "connection_failed",
        `Connection to ${where} closed during ${stage}; check sshd's logs on the target`,
      ));
    });
    client.on("ready", () => {
      stage = "exec";
      const stdout = new CappedBuffer(limits.maxOutputBytes);
      const stderr = new CappedBuffer(limits.maxOutputBytes);
      let exitCode: number | null = null;
      let signal: string | null = null;
      client.exec(operation.command, (error, opened) => {
        if (error) {
          finish(failure(
            "driver_error",
            `Cannot start the command on ${where}: ${error.message}; check sshd's MaxSessions and the account's shell`,
          ));
          return;
        }
        channel = opened;
        opened.on("data", (chunk) => stdout.push(chunk));
        opened.stderr.on("data", (chunk) => stderr.push(chunk));
        opened.on("exit", (code, sig) => {
          exitCode = typeof code === "number" ? code : null;
          signal = typeof sig === "string" ? sig : null;
        });
        opened.on("close", () => {
          finish(success({
            kind: "ssh",
            exitCode,
            signal,
            stdout: stdout.text(),
            stderr: stderr.text(),
            stdoutTruncated: stdout.truncated,
            stderrTruncated: stderr.truncated,
            hostKeyFingerprint: presented?.fingerprint ?? "",
          }));
        });
      });
    });

    const password = credential.secret;
    let answeredPrompts = false;
    const authHandler = credential.kind === "private_key"
      ? [{
        type: "publickey",
        username: credential.username,
        key: credential.secret,
        passphrase: credential.passphrase,
      }]
      : [
        { type: "password", username: credential.username, password },
        {
          type: "keyboard-interactive",
          username: credential.username,
          prompt: (
            _name: string,
            _instructions: string,
            _lang: string,
            prompts: { prompt: string; echo?: boolean }[],
            answer: (answers: string[]) => void,
          ): void => {
            // Answer one round of hidden prompts (PAM's "Password:") with the
            // password; never answer an echoed prompt or a second round
            // (an OTP or a "new password" dialog).
            const hidden = prompts.every((p) => p.echo !== true);
            if (answeredPrompts || !hidden) {
              answer(prompts.map(() => ""));
              return;
            }
            answeredPrompts = true;
            answer(prompts.map(() => password));
          },
        },
      ];

    try {
      client.connect({
        host: target.host,
        port: target.port,
        username: credential.username,
        authHandler,
        // 0 turns ssh2's own handshake timer off: the timer above covers
        // every stage with one message per stage.
        readyTimeout: 0,
        keepaliveInterval: 0,
        algorithms: {
          serverHostKey: hostKeyAlgorithms(operation.hostKeys),
        },
        hostVerifier: (blob: Buffer): boolean => {
          const key: PresentedKey = {
            type: blobKeyType(blob),
            key: blob.toString("base64"),
            fingerprint: fingerprint(blob),
          };
          presented = key;
          hostKeyFailure = checkHostKey(operation.hostKeys, key, where);
          return hostKeyFailure === null;
        },
      });
    } catch (error) {
      finish(failure(
        "driver_error",
        `Cannot start the SSH connection to ${where}: ${
          error instanceof Error ? error.message : String(error)
        }`,
      ));
    }
  });
}

if (import.meta.main) {
  await serveOneRequest("ssh", "SSH", runSsh);
}
