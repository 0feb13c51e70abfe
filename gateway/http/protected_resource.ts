/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoints:
 * where an MCP client that got a 401 finds the authorization server to
 * sign in with. One document describes the service's one resource
 * (`OAUTH_RESOURCE`); it is served at the well-known URL of that resource
 * and at the path-suffixed URL of every endpoint, which clients derive from
 * the endpoint's own URL when a 401 does not name the document.
 *
 * @module
 */
import type { Context } from "hono";

/** What the metadata document is built from (the OAuth settings). */
export interface ProtectedResource {
  /** `OAUTH_RESOURCE`: the identifier tokens name as audience. */
  readonly resource: string;
  /** `OAUTH_ISSUER`. */
  readonly issuer: string;
  /** `OAUTH_REQUIRED_SCOPES`. */
  readonly scopes: readonly string[];
}

/** The path every metadata URL starts with. */
export const PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource";

/**
 * The metadata URL of a resource (RFC 9728 section 3.1): the well-known
 * path inserted between the resource's origin and its path.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}${PROTECTED_RESOURCE_PATH}${path}`;
}

/** The metadata document (RFC 9728 section 2). */
export function protectedResourceMetadata(
  resource: ProtectedResource,
): Record<string, unknown> {
  return {
    resource: resource.resource,
    authorization_servers: [resource.issuer],
    ...(resource.scopes.length === 0
      ? {}
      : { scopes_supported: [...resource.scopes] }),
    bearer_methods_supported: ["header"],
    resource_name: "mcp-privileged",
  };
}

/**
 * A handler for `GET /.well-known/oauth-protected-resource[/...]`: the
 * document, or 404 when OAuth is off.
 */
export function protectedResourceHandler(
  resource: ProtectedResource | undefined,
): (c: Context) => Response {
  return (c) => {
    if (resource === undefined) {
      return c.json({
        error: "not_found",
        message: "OAuth is off on this service (MCP_AUTH=api_key)",
      }, 404);
    }
    c.header("Cache-Control", "max-age=300");
    return c.json(protectedResourceMetadata(resource));
  };
}
