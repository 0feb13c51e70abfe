/**
 * Fuzzing the gateway over raw HTTP/1.1: random methods and paths (the MCP
 * endpoints and their neighbours, `/health`, `/ready`, the approvals
 * console), hostile headers (Host, Origin, Content-Type, Accept,
 * Mcp-Session-Id, X-API-Key valid, wrong, repeated or absent, bearer junk,
 * X-Forwarded-For behind a trusted proxy, padding up to 16 kB) and bodies
 * (random bytes, random and truncated JSON, JSON-RPC messages, nesting
 * deep enough to pass `MAX_REQUEST_BYTES`, bodies around the limit), sent
 * byte for byte to the real gateway.
 *
 * After every request: a status below 500, a JSON-RPC or JSON error body,
 * no stack trace or path, no secret, `/health` still 200, and every new log
 * line a JSON object without a secret or an error. At the end: no executor
 * left, and the whole output JSON lines.
 */
import fc from "fast-check";
import { rawHttpRequest } from "./_arbitraries.ts";
import { encodeRequest, sendRaw } from "./_http.ts";
import { checkProperty, PRINCIPALS, startFuzzTarget } from "./_harness.ts";
import { stackPattern } from "./_answers.ts";

/** The body limit of this file's gateway: small, so bodies reach past it. */
const MAX_REQUEST_BYTES = 64 * 1024;

Deno.test({
  name:
    "fuzz: raw HTTP requests never get a 5xx, a stack trace or a secret, and the gateway stays up",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const target = await startFuzzTarget({
    env: {
      MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
      // X-Forwarded-For from loopback is believed, so that junk in it is
      // read, and most requests come from an address of their own (one
      // that failed too often is refused with 429 before its key is read).
      TRUSTED_PROXIES: "127.0.0.1",
      EXECUTOR_WARM_MAX: "0",
    },
  });
  try {
    const requests = rawHttpRequest({
      port: target.port,
      apiKeys: PRINCIPALS.map((p) => target.keys[p]),
      maxRequestBytes: MAX_REQUEST_BYTES,
    }).filter(({ request }) =>
      stackPattern(
        request.target + request.headers.flat().join("\n") +
          new TextDecoder().decode(request.body),
      ) === undefined
    );
    await checkProperty(
      "raw HTTP",
      fc.asyncProperty(
        requests,
        ({ request, path, malformed }) =>
          target.runCase(async () => {
            const answer = await sendRaw(
              target.port,
              encodeRequest(request),
              request.method,
            );
            target.checkAnswer(answer, {
              method: request.method.toUpperCase(),
              path,
              malformed,
            });
          }),
      ),
      { defaultRuns: 2000, file: import.meta.url },
    );
    await target.finish();
  } finally {
    await target.stop();
  }
});
