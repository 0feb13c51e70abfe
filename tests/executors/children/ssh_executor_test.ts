/**
 * The SSH executor child against a real OpenSSH server on loopback, spawned
 * directly (not through the spawner) with only `--allow-net=127.0.0.1:PORT`.
 */
import {
  type ExecutorResponse,
  ExecutorResponseSchema,
  type HostKey,
  type HostKeyPolicy,
  PROTOCOL_VERSION,
  type SshResult,
} from "../../../executors/protocol/mod.ts";
import {
  lookupHostKeys,
  parseKnownHosts,
} from "../../../gateway/known_hosts.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { fromFileUrl } from "../../support/paths.ts";
import {
  announceSshdSkip,
  generateOtherHostKeys,
  type SshdFixture,
  startSshd,
} from "../../support/sshd.ts";
import { freePort } from "../../support/free_port.ts";

const CONFIG = fromFileUrl(new URL("../../../deno.json", import.meta.url));
const EXECUTOR = fromFileUrl(
  new URL("../../../executors/children/ssh_executor.ts", import.meta.url),
);
const skip = await announceSshdSkip();

/** What one run of the child produced. */
interface ChildRun {
  code: number;
  /** Raw stdout (the JSON response). */
  stdout: string;
  stderr: string;
  response: ExecutorResponse;
  ms: number;
}

async function runChild(port: number, request: unknown): Promise<ChildRun> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--cached-only",
      "--frozen-lockfile",
      "--config",
      CONFIG,
      `--allow-net=127.0.0.1:${port}`,
      EXECUTOR,
    ],
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const body = typeof request === "string" ? request : JSON.stringify(request);
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  assertEquals(out.code, 0, `executor exited non-zero; stderr: ${stderr}`);
  const parsed = ExecutorResponseSchema.safeParse(JSON.parse(stdout));
  assert(parsed.success, `response does not match the protocol: ${stdout}`);
  return {
    code: out.code,
    stdout,
    stderr,
    response: parsed.data,
    ms: performance.now() - started,
  };
}

interface RequestOptions {
  command?: string;
  hostKeys?: HostKeyPolicy;
  secret?: string;
  kind?: "password" | "private_key";
  passphrase?: string;
  port?: number;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

function request(sshd: SshdFixture, options: RequestOptions = {}): unknown {
  return {
    protocol: PROTOCOL_VERSION,
    target: { host: sshd.host, port: options.port ?? sshd.port },
    credential: {
      username: sshd.username,
      secret: options.secret ?? sshd.password,
      kind: options.kind ?? "password",
      ...(options.passphrase === undefined
        ? {}
        : { passphrase: options.passphrase }),
    },
    operation: {
      kind: "ssh",
      command: options.command ?? "true",
      hostKeys: options.hostKeys ??
        { mode: "verify", allowed: sshd.hostKeys, revoked: [] },
    },
    limits: {
      timeoutMs: options.timeoutMs ?? 15_000,
      maxOutputBytes: options.maxOutputBytes ?? 1024 * 1024,
      killGraceMs: 1000,
    },
  };
}

function okResult(run: ChildRun): SshResult {
  assert(run.response.ok, `expected success, got ${run.stdout}`);
  assert(run.response.result.kind === "ssh");
  return run.response.result;
}

function failureOf(
  run: ChildRun,
  code: string,
): Extract<ExecutorResponse, { ok: false }>["error"] {
  assert(!run.response.ok, `expected ${code}, got ${run.stdout.slice(0, 300)}`);
  assertEquals(run.response.error.code, code, run.response.error.message);
  return run.response.error;
}

/** The fingerprint OpenSSH itself prints for a key (`ssh-keygen -lf`). */
async function opensshFingerprint(key: HostKey): Promise<string> {
  const child = new Deno.Command("ssh-keygen", {
    args: ["-l", "-E", "sha256", "-f", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${key.type} ${key.key}\n`));
  await writer.close();
  const out = await child.output();
  const fingerprint = new TextDecoder().decode(out.stdout).split(" ")[1];
  assert(fingerprint !== undefined, "ssh-keygen printed no fingerprint");
  return fingerprint;
}

function keyOfType(keys: HostKey[], type: string): HostKey {
  const key = keys.find((k) => k.type === type);
  assert(key !== undefined, `no ${type} key`);
  return key;
}

Deno.test({
  name: "sshExecutor runs commands on a real sshd and enforces its policies",
  ignore: skip !== null,
  async fn(t): Promise<void> {
    const sshd = await startSshd();
    const secrets = [sshd.password, sshd.keyPassphrase];
    /** Every failure message, to check none ever carries a secret. */
    const messages: string[] = [];
    const failed = async (
      options: RequestOptions,
      code: string,
    ): Promise<Extract<ExecutorResponse, { ok: false }>["error"]> => {
      const run = await runChild(
        options.port ?? sshd.port,
        request(sshd, options),
      );
      const error = failureOf(run, code);
      messages.push(error.message, run.stderr);
      return error;
    };
    /** Runs the child with `options` and returns its successful result. */
    const succeeded = async (options: RequestOptions): Promise<SshResult> =>
      okResult(
        await runChild(options.port ?? sshd.port, request(sshd, options)),
      );
    try {
      await t.step(
        "runs a command and returns stdout, stderr and exit code 0",
        async () => {
          const entries = parseKnownHosts(
            await Deno.readTextFile(sshd.knownHostsPath),
          );
          const known = lookupHostKeys(entries, sshd.host, sshd.port);
          assertEquals(known.allowed.length, 2);
          const run = await runChild(
            sshd.port,
            request(sshd, {
              command: "echo out; echo err >&2; id -un",
              hostKeys: { mode: "verify", ...known },
            }),
          );
          const result = okResult(run);
          assertEquals(result.stdout, `out\n${sshd.username}\n`);
          assertEquals(result.stderr, "err\n");
          assertEquals([result.exitCode, result.signal], [0, null]);
          assertEquals([result.stdoutTruncated, result.stderrTruncated], [
            false,
            false,
          ]);
          // ed25519 is preferred when both known keys are allowed.
          assertEquals(
            result.hostKeyFingerprint,
            await opensshFingerprint(keyOfType(sshd.hostKeys, "ssh-ed25519")),
          );
          assertEquals(run.stderr, "");
        },
      );

      await t.step(
        "reports a non-zero exit status as a normal result",
        async () => {
          const result = await succeeded({ command: "echo bye; exit 3" });
          assertEquals([result.exitCode, result.signal, result.stdout], [
            3,
            null,
            "bye\n",
          ]);
        },
      );

      await t.step("reports a remote process killed by a signal", async () => {
        const result = await succeeded({ command: "kill -TERM $$" });
        assertEquals(result.exitCode, null);
        assertEquals(result.signal, "SIGTERM");
      });

      await t.step("refuses a wrong password with auth_failed", async () => {
        const wrong = `${sshd.password}-wrong`;
        const error = await failed({ secret: wrong }, "auth_failed");
        assertStringIncludes(error.message, "Permission denied");
        assertStringIncludes(error.message, sshd.username);
        assert(
          !error.message.includes(wrong),
          "the message leaks the password",
        );
      });

      await t.step(
        "answers keyboard-interactive when password auth is off",
        async () => {
          const port = sshd.kbdInteractiveOnlyPort;
          const result = await succeeded({ port, command: "echo kbd-ok" });
          assertEquals(result.stdout, "kbd-ok\n");
          const log = await Deno.readTextFile(sshd.logPath);
          assertMatch(log, /Accepted keyboard-interactive\/pam for mcptest/);
          const error = await failed(
            { port, secret: "wrong-kbd" },
            "auth_failed",
          );
          assert(!error.message.includes("wrong-kbd"));
        },
      );

      await t.step("logs in with an unencrypted private key", async () => {
        const result = await succeeded({
          kind: "private_key",
          secret: sshd.privateKeyPem,
          command: "echo key-ok",
        });
        assertEquals(result.stdout, "key-ok\n");
      });

      await t.step(
        "logs in with a passphrase-protected private key",
        async () => {
          const result = await succeeded({
            kind: "private_key",
            secret: sshd.encryptedPrivateKeyPem,
            passphrase: sshd.keyPassphrase,
            command: "echo passphrase-ok",
          });
          assertEquals(result.stdout, "passphrase-ok\n");
        },
      );

      await t.step("names a wrong or missing key passphrase", async () => {
        const wrong = await failed(
          {
            kind: "private_key",
            secret: sshd.encryptedPrivateKeyPem,
            passphrase: "not-the-passphrase",
          },
          "auth_failed",
        );
        assertMatch(wrong.message, /passphrase is wrong/);
        assert(!wrong.message.includes("not-the-passphrase"));
        const missing = await failed(
          { kind: "private_key", secret: sshd.encryptedPrivateKeyPem },
          "auth_failed",
        );
        assertMatch(missing.message, /no passphrase was supplied/);
        const garbage = await failed(
          { kind: "private_key", secret: "not a key" },
          "auth_failed",
        );
        assertMatch(garbage.message, /cannot be parsed/);
        assert(!garbage.message.includes("not a key"));
      });

      await t.step(
        "refuses an unknown host and reports the presented key",
        async () => {
          const error = await failed(
            { hostKeys: { mode: "verify", allowed: [], revoked: [] } },
            "host_key_unknown",
          );
          const presented = error.presentedHostKey;
          assert(presented !== undefined, "no presentedHostKey");
          assert(
            sshd.hostKeys.some((k) =>
              k.type === presented.type && k.key === presented.key
            ),
            "the presented key is not one of the server's keys",
          );
          assertEquals(
            presented.fingerprint,
            await opensshFingerprint(presented),
          );
          assertStringIncludes(error.message, "Host key verification failed");
          assertStringIncludes(error.message, presented.fingerprint);
        },
      );

      await t.step(
        "refuses a changed host key with host_key_mismatch",
        async () => {
          const other = await generateOtherHostKeys();
          const error = await failed(
            { hostKeys: { mode: "verify", allowed: other, revoked: [] } },
            "host_key_mismatch",
          );
          assert(error.presentedHostKey !== undefined);
          assertMatch(error.message, /may have changed/);
        },
      );

      await t.step(
        "refuses a revoked host key even when it is also allowed",
        async () => {
          const error = await failed(
            {
              hostKeys: {
                mode: "verify",
                allowed: sshd.hostKeys,
                revoked: sshd.hostKeys,
              },
            },
            "host_key_revoked",
          );
          assertStringIncludes(error.message, "@revoked");
        },
      );

      await t.step(
        "negotiates the key type that known_hosts holds",
        async () => {
          for (const type of ["ssh-rsa", "ssh-ed25519"]) {
            const key = keyOfType(sshd.hostKeys, type);
            const result = await succeeded({
              hostKeys: { mode: "verify", allowed: [key], revoked: [] },
            });
            assertEquals(
              result.hostKeyFingerprint,
              await opensshFingerprint(key),
            );
          }
        },
      );

      await t.step(
        "accepts any host key when checking is disabled",
        async () => {
          const result = await succeeded({
            hostKeys: { mode: "disabled" },
            command: "echo lab",
          });
          assertEquals(result.stdout, "lab\n");
          assertMatch(result.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
        },
      );

      await t.step(
        "caps each output stream and still returns a valid response",
        async () => {
          const cap = 1024 * 1024;
          const run = await runChild(
            sshd.port,
            request(sshd, {
              command: "yes | head -c 5000000; echo small >&2",
              maxOutputBytes: cap,
              timeoutMs: 60_000,
            }),
          );
          const result = okResult(run);
          assertEquals(result.stdout.length, cap);
          assert(result.stdoutTruncated, "stdout not marked truncated");
          assertEquals([result.stderr, result.stderrTruncated], [
            "small\n",
            false,
          ]);
          assertEquals(result.exitCode, 0);
        },
      );

      await t.step(
        "stops a command that outlives its own time limit",
        async () => {
          const run = await runChild(
            sshd.port,
            request(sshd, { command: "sleep 30", timeoutMs: 2_000 }),
          );
          const error = failureOf(run, "timeout");
          messages.push(error.message);
          assertStringIncludes(error.message, "2000 ms");
          // The command sleeps 30 s: an answer in half that means it was
          // stopped, with room for a loaded machine.
          assert(run.ms < 15_000, `took ${run.ms} ms`);
        },
      );

      await t.step("reports a closed port as connection_failed", async () => {
        const port = freePort();
        const error = await failed({ port }, "connection_failed");
        assertStringIncludes(error.message, "connection refused");
        assertStringIncludes(error.message, `127.0.0.1:${port}`);
      });

      await t.step(
        "rejects a malformed request without echoing it",
        async () => {
          const run = await runChild(
            sshd.port,
            `{"credential":"${sshd.password}"`,
          );
          const error = failureOf(run, "bad_request");
          messages.push(error.message, run.stderr);
          const wrongShape = await runChild(sshd.port, {
            protocol: PROTOCOL_VERSION,
            credential: { secret: sshd.password },
          });
          messages.push(failureOf(wrongShape, "bad_request").message);
        },
      );

      await t.step(
        "returns the password only where the remote command printed it",
        async () => {
          const run = await runChild(
            sshd.port,
            request(sshd, { command: `printf '%s' '${sshd.password}'` }),
          );
          const result = okResult(run);
          assertEquals(result.stdout, sshd.password);
          assertEquals(run.stdout.split(sshd.password).length, 2);
          assertEquals(run.stderr, "");
        },
      );

      await t.step("never puts a secret in an error message", () => {
        assert(
          messages.length >= 10,
          `only ${messages.length} messages checked`,
        );
        for (const message of messages) {
          for (const secret of secrets) {
            assert(
              !message.includes(secret),
              `a message leaks a secret: ${message}`,
            );
          }
        }
      });
    } finally {
      await sshd.stop();
    }
  },
});
