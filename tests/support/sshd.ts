/**
 * A real OpenSSH server on loopback for tests: a throwaway user with a
 * password and two ed25519 client keys, ed25519 and RSA host keys, and a
 * hashed known_hosts file written by `ssh-keyscan -H`.
 *
 * Needs root (it creates a user) and `/usr/sbin/sshd`. When sshd is missing,
 * it is installed with apt-get if `CI` is set; otherwise
 * {@linkcode sshdSkipReason} explains why the tests are skipped.
 *
 * @module
 */
import type { HostKey } from "../../executors/protocol/mod.ts";
import { type Daemon, spawnDaemon, waitForPort } from "./daemon.ts";
import { freePort } from "./free_port.ts";
import { announceSkip, missingToolReason } from "./skip.ts";

const SSHD = "/usr/sbin/sshd";
const LOOPBACK = "127.0.0.1";

/** A running sshd and everything a test needs to log in to it. */
export interface SshdFixture {
  /** Always `127.0.0.1`. */
  host: string;
  port: number;
  /**
   * A second port of the same sshd where password authentication is off, so
   * only keyboard-interactive (PAM asking "Password:") logs in.
   */
  kbdInteractiveOnlyPort: number;
  username: string;
  password: string;
  /** Unencrypted ed25519 private key (OpenSSH format), authorized for `username`. */
  privateKeyPem: string;
  /** Passphrase-protected ed25519 private key, authorized for `username`. */
  encryptedPrivateKeyPem: string;
  keyPassphrase: string;
  /** Hashed known_hosts written by `ssh-keyscan -H -p PORT 127.0.0.1`. */
  knownHostsPath: string;
  /** The non-comment lines of that file, as ssh-keyscan printed them. */
  hostKeyLines: string[];
  /** The server's host keys (ed25519 and RSA), read from the `.pub` files. */
  hostKeys: HostKey[];
  /** The sshd log (`-E`), for diagnosing a failed test. */
  logPath: string;
  /** Kills sshd, deletes the user with its home, and removes the temp files. */
  stop(): Promise<void>;
}

/** What one command printed; `code` is its exit code. */
interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  stdinText?: string,
): Promise<CommandOutput> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdinText === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdinText !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdinText));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

async function mustRun(
  cmd: string,
  args: string[],
  stdinText?: string,
): Promise<string> {
  const out = await run(cmd, args, stdinText);
  if (out.code !== 0) {
    throw new Error(
      `Cannot run ${cmd} ${
        args[0] ?? ""
      }: exit ${out.code}: ${out.stderr.trim()}; run the tests as root on a Debian-like system`,
    );
  }
  return out.stdout;
}

function randomToken(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A strong password for chpasswd: no `:` and no newline by construction. */
function randomPassword(): string {
  const raw = crypto.getRandomValues(new Uint8Array(24));
  return "Mcp-" + btoa(String.fromCharCode(...raw)).replaceAll("/", "_")
    .replaceAll("+", "-").replaceAll("=", "");
}

let installAttempted: Promise<string | null> | undefined;

/**
 * Why the sshd tests cannot run here, or `null` when they can.
 *
 * Installs openssh-server with apt-get when `CI` is set and sshd is missing.
 */
export function sshdSkipReason(): Promise<string | null> {
  installAttempted ??= findSkipReason();
  return installAttempted;
}

async function findSkipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux") {
    return "SSH tests skipped: the sshd fixture runs on Linux only";
  }
  if (Deno.uid() !== 0) {
    return "SSH tests skipped: the sshd fixture must run as root (it creates a throwaway user)";
  }
  return await missingToolReason(SSHD, {
    aptPackage: "openssh-server",
    suite: "SSH",
  });
}

/**
 * Prints the skip reason to stderr so a skipped suite is never silent.
 * Returns the reason, for `Deno.test({ ignore })`.
 */
export function announceSshdSkip(): Promise<string | null> {
  return announceSkip(sshdSkipReason());
}

function parsePublicKey(line: string): HostKey {
  const [type, key] = line.trim().split(/\s+/);
  if (type === undefined || key === undefined) {
    throw new TypeError(`Cannot parse public key line "${line}"`);
  }
  return { type, key };
}

async function generateKey(
  path: string,
  type: "ed25519" | "rsa",
  passphrase: string,
): Promise<void> {
  const bits = type === "rsa" ? ["-b", "3072"] : [];
  await mustRun("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...bits,
    "-N",
    passphrase,
    "-C",
    "mcp-privileged-test",
    "-f",
    path,
  ]);
}

/**
 * Generates a fresh ed25519 + RSA host key set that belongs to no server,
 * for "changed host key" tests.
 */
export async function generateOtherHostKeys(): Promise<HostKey[]> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-other-hostkeys-" });
  try {
    const keys: HostKey[] = [];
    for (const type of ["ed25519", "rsa"] as const) {
      const path = `${dir}/ssh_host_${type}_key`;
      await generateKey(path, type, "");
      keys.push(parsePublicKey(await Deno.readTextFile(`${path}.pub`)));
    }
    return keys;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * CyberArk account properties that log in to this sshd as its throwaway user
 * at 127.0.0.1 with its password, on a UnixSSH platform with sshd's port as
 * its `Port`; `fields` add to them or replace them (a
 * private key as `Content`, a `Passphrase`, another `Address`).
 */
export function sshdAccount(
  sshd: SshdFixture,
  name: string,
  fields: Record<string, string> = {},
): Record<string, string> {
  return {
    Name: name,
    Content: sshd.password,
    UserName: sshd.username,
    Address: LOOPBACK,
    // A Unix-via-SSH account on sshd's own port: its handles are scoped to it.
    PolicyID: "UnixSSH",
    Port: String(sshd.port),
    ...fields,
  };
}

/** Formats one plain (unhashed) known_hosts line, `[host]:port` unless port 22. */
export function knownHostsLine(
  host: string,
  port: number,
  key: HostKey,
): string {
  const name = port === 22 ? host : `[${host}]:${port}`;
  return `${name} ${key.type} ${key.key}`;
}

/**
 * Starts sshd on a free loopback port with a throwaway user.
 *
 * Call {@linkcode sshdSkipReason} first; this throws when sshd cannot run.
 *
 * @throws {Error} when sshd, the user or the keys cannot be set up
 */
export async function startSshd(): Promise<SshdFixture> {
  const reason = await sshdSkipReason();
  if (reason !== null) throw new Error(reason);

  const dir = await Deno.makeTempDir({ prefix: "mcp-sshd-" });
  const username = `mcptest${randomToken(4)}`;
  const password = randomPassword();
  const keyPassphrase = `kp-${randomToken(12)}`;
  let userCreated = false;
  let sshd: Daemon | undefined;

  const cleanup = async (): Promise<void> => {
    if (sshd !== undefined) {
      await sshd.stop();
      sshd = undefined;
    }
    if (userCreated) {
      // -f: a session process that outlived sshd (a remote `sleep` after a
      // timeout) must not keep the user alive.
      await run("userdel", ["-r", "-f", username]);
      userCreated = false;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  try {
    await mustRun("useradd", ["-m", "-s", "/bin/sh", username]);
    userCreated = true;
    await mustRun("chpasswd", [], `${username}:${password}\n`);

    const home = `/home/${username}`;
    await generateKey(`${dir}/id_plain`, "ed25519", "");
    await generateKey(`${dir}/id_encrypted`, "ed25519", keyPassphrase);
    await Deno.mkdir(`${home}/.ssh`, { mode: 0o700 });
    const authorized = (await Deno.readTextFile(`${dir}/id_plain.pub`)) +
      (await Deno.readTextFile(`${dir}/id_encrypted.pub`));
    await Deno.writeTextFile(`${home}/.ssh/authorized_keys`, authorized, {
      mode: 0o600,
    });
    await mustRun("chown", ["-R", `${username}:${username}`, `${home}/.ssh`]);
    await Deno.chmod(`${home}/.ssh`, 0o700);
    await Deno.chmod(`${home}/.ssh/authorized_keys`, 0o600);

    const hostKeys: HostKey[] = [];
    const hostKeyPaths: string[] = [];
    for (const type of ["ed25519", "rsa"] as const) {
      const path = `${dir}/ssh_host_${type}_key`;
      await generateKey(path, type, "");
      hostKeyPaths.push(path);
      hostKeys.push(parsePublicKey(await Deno.readTextFile(`${path}.pub`)));
    }

    const port = freePort({ hostname: LOOPBACK });
    let kbdInteractiveOnlyPort = freePort({ hostname: LOOPBACK });
    while (kbdInteractiveOnlyPort === port) {
      kbdInteractiveOnlyPort = freePort({ hostname: LOOPBACK });
    }
    const configPath = `${dir}/sshd_config`;
    const logPath = `${dir}/sshd.log`;
    await Deno.writeTextFile(
      configPath,
      [
        `Port ${port}`,
        `Port ${kbdInteractiveOnlyPort}`,
        `ListenAddress ${LOOPBACK}`,
        ...hostKeyPaths.map((p) => `HostKey ${p}`),
        `PidFile ${dir}/sshd.pid`,
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication yes",
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "UsePAM yes",
        "PermitRootLogin no",
        `AllowUsers ${username}`,
        "LogLevel VERBOSE",
        // Tests connect many times in a burst; do not let sshd throttle them.
        "MaxStartups 100:30:200",
        `Match LocalPort ${kbdInteractiveOnlyPort}`,
        "  PasswordAuthentication no",
        "",
      ].join("\n"),
    );
    await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    await mustRun(SSHD, ["-t", "-f", configPath]);

    sshd = spawnDaemon(SSHD, {
      args: ["-D", "-f", configPath, "-E", logPath],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    });
    for (const listening of [port, kbdInteractiveOnlyPort]) {
      await waitForPort(sshd, listening, {
        name: "sshd",
        hostname: LOOPBACK,
        log: () => Deno.readTextFile(logPath),
      });
    }

    const knownHostsPath = `${dir}/known_hosts`;
    const scanned = await mustRun("ssh-keyscan", [
      "-H",
      "-T",
      "5",
      "-t",
      "ed25519,rsa",
      "-p",
      String(port),
      LOOPBACK,
    ]);
    const hostKeyLines = scanned.split("\n").filter((line) =>
      line.trim() !== "" && !line.startsWith("#")
    );
    if (hostKeyLines.length !== hostKeys.length) {
      throw new Error(
        `Cannot scan the sshd host keys: ssh-keyscan printed ${hostKeyLines.length} lines, expected ${hostKeys.length}`,
      );
    }
    await Deno.writeTextFile(knownHostsPath, hostKeyLines.join("\n") + "\n");

    return {
      host: LOOPBACK,
      port,
      kbdInteractiveOnlyPort,
      username,
      password,
      privateKeyPem: await Deno.readTextFile(`${dir}/id_plain`),
      encryptedPrivateKeyPem: await Deno.readTextFile(`${dir}/id_encrypted`),
      keyPassphrase,
      knownHostsPath,
      hostKeyLines,
      hostKeys,
      logPath,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
