/**
 * The HTTP gateway: `/health` (alive), `/ready` (can take operations), the
 * four MCP endpoints behind the drain guard (`gateway/readiness/`) and the
 * middleware chain of `gateway/http/` (client address, Host/Origin check,
 * failed-authentication limit, API key, body size limit), and the approvals
 * console at `/approvals/` (which stays open while the service drains, so
 * that approvers can still decide the calls that wait for them).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Hono } from "hono";
import {
  ApiKeyVerifier,
  authFailureLimit,
  clientIp,
  type GatewayEnv,
  hostGuard,
  mcpAuth,
  methodNotAllowed,
  requestBodyLimit,
} from "./http/mod.ts";
import { approvalRoutes } from "./approvals/http/mod.ts";
import type { Config } from "./config/mod.ts";
import {
  PROTECTED_RESOURCE_PATH,
  type ProtectedResource,
  protectedResourceHandler,
  protectedResourceMetadataUrl,
} from "./http/protected_resource.ts";
import { ENDPOINT_NAMES, handleMcpRequest } from "./mcp_endpoints.ts";
import { drainGuard, readyRoute } from "./readiness/mod.ts";
import type { GatewayServices } from "./tool_context.ts";

const log = getLogger(["gateway", "http"]);

/**
 * Builds the Hono application. The guarded listener (`serveGuarded()` in
 * `http/connection_guard/`) binds the client's socket address as
 * `c.env.remoteAddr`; tests pass it as the third argument of
 * `app.request()`.
 *
 * @throws {RangeError} when `services.config.apiKeys` holds no principal
 */
export function createApp(services: GatewayServices): Hono<GatewayEnv> {
  const { http } = services.config;
  const app = new Hono<GatewayEnv>();

  app.get("/health", (c) => c.json({ status: "ok" }));
  // Readiness for orchestrators and load balancers: open like /health (a
  // probe names the pod's address, not a service host name), and nothing
  // in it is secret.
  app.get("/ready", readyRoute(services.lifecycle));

  // Where MCP clients find the identity provider (RFC 9728); public, like
  // any discovery document, but only for the service's own host names.
  const resource = protectedResource(services.config);
  app.use(
    `${PROTECTED_RESOURCE_PATH}*`,
    hostGuard({ allowedHosts: http.allowedHosts }),
  );
  app.get(PROTECTED_RESOURCE_PATH, protectedResourceHandler(resource));
  app.get(`${PROTECTED_RESOURCE_PATH}/*`, protectedResourceHandler(resource));

  // In this order: while draining (SIGTERM) every new request is refused
  // first, and the rest are counted in flight until their answer is sent;
  // the address comes next so the auth_failure line can name it; a foreign
  // Host is refused before its key is looked at; an address over the
  // failure limit is refused before its key is compared; a body is read
  // only for an authenticated caller.
  app.use("/mcp/*", drainGuard(services.lifecycle));
  app.use("/mcp/*", clientIp({ trustedProxies: http.trustedProxies }));
  app.use("/mcp/*", hostGuard({ allowedHosts: http.allowedHosts }));
  app.use(
    "/mcp/*",
    authFailureLimit({ failures: services.rateLimits.authFailures }),
  );
  app.use("/mcp/*", mcpAuthFor(services));
  app.use("/mcp/*", requestBodyLimit({ maxBytes: http.maxRequestBytes }));

  // The approvals console and its API: approvers, not MCP principals, so
  // they bring their own authentication (approver keys, sessions, CSRF).
  app.use("/approvals/*", clientIp({ trustedProxies: http.trustedProxies }));
  app.use("/approvals/*", hostGuard({ allowedHosts: http.allowedHosts }));
  app.route(
    "/approvals",
    approvalRoutes({
      broker: services.approvals,
      approvers: services.config.approvals.approvers,
      sessionSeconds: services.config.approvals.sessionSeconds,
      sessions: services.consoleSessions,
      secureCookies: secureConsoleCookies(services.config),
      failures: services.rateLimits.authFailures,
    }),
  );

  for (const endpoint of ENDPOINT_NAMES) {
    app.post(`/mcp/${endpoint}`, (c) =>
      handleMcpRequest(endpoint, c.req.raw, {
        services,
        clientIp: c.get("clientIp"),
        principal: c.get("principal"),
      }));
    app.on(["GET", "DELETE"], `/mcp/${endpoint}`, methodNotAllowed());
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

/**
 * Whether console cookies are `Secure`: when approvers reach the service
 * over TLS, i.e. through a trusted TLS proxy (`TRUSTED_PROXIES`) or at an
 * `https://` `APPROVAL_CONSOLE_URL`. A plain-HTTP local demo gets cookies
 * a browser sends back over HTTP.
 */
function secureConsoleCookies(config: Config): boolean {
  return config.http.trustedProxies.length > 0 ||
    config.approvals.consoleUrl?.protocol === "https:";
}

/** The OAuth resource the metadata describes, when OAuth is on. */
function protectedResource(config: Config): ProtectedResource | undefined {
  const { oauth } = config;
  if (
    oauth.mode === "api_key" || oauth.issuer === undefined ||
    oauth.resource === undefined
  ) return undefined;
  return {
    resource: oauth.resource,
    issuer: oauth.issuer,
    scopes: oauth.requiredScopes,
  };
}

/** The MCP authentication `MCP_AUTH` asks for: API keys, OAuth tokens, or both. */
function mcpAuthFor(
  services: GatewayServices,
): ReturnType<typeof mcpAuth> {
  const { config, tokens, rateLimits } = services;
  const { mode, resource } = config.oauth;
  const keys = mode === "oauth" ? undefined : config.apiKeys.principals;
  if (mode !== "api_key" && (tokens === undefined || resource === undefined)) {
    throw new RangeError(
      `MCP_AUTH=${mode} needs a token verifier and OAUTH_RESOURCE`,
    );
  }
  return mcpAuth({
    ...(keys === undefined ? {} : { apiKeys: new ApiKeyVerifier(keys) }),
    ...(mode === "api_key" ? {} : {
      oauth: {
        verifier: tokens!,
        resourceMetadataUrl: protectedResourceMetadataUrl(resource!),
      },
    }),
    failures: rateLimits.authFailures,
  });
}
