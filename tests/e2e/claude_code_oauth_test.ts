/**
 * Claude Code against the gateway with only OAuth enabled (MCP_AUTH=oauth):
 * `claude mcp add --transport http ...` then `claude mcp list` must show the
 * server as needing authentication, which Claude Code says only after the
 * gateway's 401 led it, through the protected-resource metadata, to the
 * authorization server (a real OpenID provider here). A server that cannot
 * be reached is listed as "Failed to connect" in the same run, for contrast.
 *
 * Claude Code (npm `@anthropic-ai/claude-code`, installed by .ci/run) runs
 * with a throwaway HOME, so no real configuration or account is touched.
 * Without `claude` the test is skipped with a warning locally and fails
 * under CI. The transcript is written to `claude-code-oauth.txt` in
 * `TEST_ARTIFACTS_DIR` (default `tests/.artifacts/`).
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { freePort } from "../support/free_port.ts";
import { PROJECT_ROOT, startGateway } from "../support/gateway_process.ts";
import { startOidcProvider } from "../support/oidc_provider.ts";
import { announceSkip, fileExists } from "../support/skip.ts";

/** The version .ci/run installs. */
const CLAUDE_CODE_PACKAGE = "@anthropic-ai/claude-code@2.1.328";

/** The `claude` executable on PATH, or undefined. */
async function findClaude(): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "" && await fileExists(`${dir}/claude`)) {
      return `${dir}/claude`;
    }
  }
  return undefined;
}

const claude = await findClaude();

/**
 * Why the test cannot run, or null; under CI a missing `claude` is a
 * failure, not a skip.
 *
 * @throws {Error} when `CI` is set and claude is missing
 */
function claudeSkipReason(): string | null {
  if (claude !== undefined) return null;
  if (Deno.env.get("CI")) {
    throw new Error(
      `Cannot run the Claude Code test: claude is not on PATH; .ci/run installs it with "npm install -g ${CLAUDE_CODE_PACKAGE}"`,
    );
  }
  return `Claude Code test skipped: claude is not on PATH; install it with "npm install -g ${CLAUDE_CODE_PACKAGE}" or set CI=1 to make its absence a failure`;
}

const claudeSkip = await announceSkip(Promise.resolve(claudeSkipReason()));

/** One `claude` command run and what it printed. */
interface Transcribed {
  code: number;
  output: string;
}

Deno.test({
  name:
    "Claude Code lists the OAuth-only gateway as needing authentication after discovering its authorization server",
  ignore: claudeSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const idp = await startOidcProvider();
    const ccp = await startCcpFixture("PROD-LINUX", []);
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    const { MCP_API_KEYS: _keys, ...ccpEnv } = ccp.gatewayEnv;
    const gateway = await startGateway({
      ...ccpEnv,
      PORT: String(port),
      MCP_AUTH: "oauth",
      OAUTH_ISSUER: idp.issuer,
      OAUTH_RESOURCE: base,
      OAUTH_REQUIRED_SCOPES: "mcp:tools",
    });
    const home = await Deno.makeTempDir({ prefix: "mcp-claude-home-" });
    const transcript: string[] = [];
    const run = async (args: string[]): Promise<Transcribed> => {
      const out = await new Deno.Command(claude!, {
        args,
        cwd: home,
        clearEnv: true,
        env: {
          HOME: home,
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          // No update checks, telemetry or other traffic of its own.
          DISABLE_AUTOUPDATER: "1",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          NO_COLOR: "1",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(180_000),
      }).output();
      const decoder = new TextDecoder();
      const output = decoder.decode(out.stdout) + decoder.decode(out.stderr);
      transcript.push(`$ claude ${args.join(" ")}`, output.trimEnd(), "");
      return { code: out.code, output };
    };
    // A loopback port nothing listens on: what a network failure looks like.
    const closedPort = freePort();
    try {
      const added = await run([
        "mcp",
        "add",
        "--transport",
        "http",
        "ssh",
        `${base}/mcp/ssh`,
      ]);
      assertEquals(added.code, 0, added.output);
      assertStringIncludes(added.output, "Added HTTP MCP server ssh");
      const addedDown = await run([
        "mcp",
        "add",
        "--transport",
        "http",
        "unreachable",
        `http://127.0.0.1:${closedPort}/mcp/ssh`,
      ]);
      assertEquals(addedDown.code, 0, addedDown.output);

      const listed = await run(["mcp", "list"]);
      assertEquals(listed.code, 0, listed.output);
      const line = (name: string): string => {
        const found = listed.output.split("\n").find((l) =>
          l.startsWith(`${name}: `)
        );
        assert(found !== undefined, `no line for ${name}:\n${listed.output}`);
        return found;
      };
      const ssh = line("ssh");
      assertStringIncludes(ssh, `${base}/mcp/ssh (HTTP)`);
      assertStringIncludes(ssh, "Needs authentication");
      assert(!ssh.includes("Failed to connect"), ssh);
      assertStringIncludes(line("unreachable"), "Failed to connect");

      // Claude Code learnt the issuer only from the gateway's metadata.
      assert(
        idp.requests.some((r) => r.startsWith("GET /.well-known/")),
        `the authorization server's metadata was asked for: ${
          JSON.stringify(idp.requests)
        }`,
      );
      await gateway.waitFor((e) =>
        e.event === "auth_failure" && e.path === "/mcp/ssh" &&
        e.reason === "missing_credentials"
      );
    } finally {
      const dir = Deno.env.get("TEST_ARTIFACTS_DIR") ??
        `${PROJECT_ROOT}tests/.artifacts`;
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/claude-code-oauth.txt`,
        transcript.join("\n")
          .replaceAll(home, "$HOME"),
      );
      await gateway.stop();
      await ccp.close();
      await idp.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
