/**
 * The HTTP gateway: `/health` and the four MCP endpoints behind Host/Origin
 * checks, API-key authentication and a body size limit.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiKeyAuth } from "./api_key_auth.ts";
import { audit } from "./audit.ts";
import { clientIp } from "./client_ip.ts";
import { checkHostAndOrigin } from "./host_guard.ts";
import {
  ENDPOINT_NAMES,
  type EndpointName,
  handleMcpRequest,
} from "./mcp_endpoints.ts";
import type { GatewayServices } from "./tool_context.ts";

const log = getLogger(["gateway", "http"]);

interface Env {
  Bindings: { remoteAddr?: Deno.NetAddr | Deno.Addr };
  Variables: { clientIp: string; apiKeyId: string };
}

function peerAddress(remote: Deno.NetAddr | Deno.Addr | undefined): string {
  return remote !== undefined && "hostname" in remote
    ? remote.hostname
    : "unknown";
}

/** Builds the Hono application. */
export function createApp(services: GatewayServices): Hono<Env> {
  const { http } = services.config;
  const auth = new ApiKeyAuth(services.config.apiKeys);
  const app = new Hono<Env>();

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.use("/mcp/*", async (c, next) => {
    const ip = clientIp(
      peerAddress(c.env?.remoteAddr),
      c.req.header("x-forwarded-for"),
      http.trustedProxies,
    );
    c.set("clientIp", ip);
    const refused = checkHostAndOrigin(
      c.req.header("host"),
      c.req.header("origin"),
      http.allowedHosts,
    );
    if (refused !== undefined) {
      return c.json({ error: "forbidden", message: refused }, 403);
    }
    const keyId = auth.verify(c.req.header("x-api-key"));
    if (keyId === undefined) {
      audit("auth_failure", {
        reason: "invalid_or_missing_api_key",
        client_ip: ip,
        path: c.req.path,
      }, "warning");
      return c.json({
        error: "unauthorized",
        message:
          "Missing or invalid X-API-Key header; use a key from MCP_API_KEYS",
      }, 401);
    }
    c.set("apiKeyId", keyId);
    await next();
  });

  app.use(
    "/mcp/*",
    bodyLimit({
      maxSize: http.maxRequestBytes,
      onError: (c) =>
        c.json({
          error: "payload_too_large",
          message:
            `Request body is larger than ${http.maxRequestBytes} bytes (MAX_REQUEST_BYTES)`,
        }, 413),
    }),
  );

  for (const name of ENDPOINT_NAMES) {
    app.post(
      `/mcp/${name}`,
      (c) =>
        handleMcpRequest(name as EndpointName, c.req.raw, {
          services,
          clientIp: c.get("clientIp"),
          apiKeyId: c.get("apiKeyId"),
        }),
    );
    app.on(["GET", "DELETE"], `/mcp/${name}`, (c) =>
      c.json(
        {
          error: "method_not_allowed",
          message:
            "This MCP endpoint is stateless: send JSON-RPC requests with POST",
        },
        405,
        { Allow: "POST" },
      ));
  }

  app.notFound((c) =>
    c.json({ error: "not_found", message: "No such endpoint" }, 404)
  );
  app.onError((error, c) => {
    log.error("Unhandled error on {path}: {name}", {
      path: c.req.path,
      name: error.name,
    });
    return c.json({ error: "internal", message: "Internal error" }, 500);
  });
  return app;
}
