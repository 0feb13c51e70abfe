/**
 * The approvals routes as the gateway mounts them (`clientIp()` and
 * `hostGuard()` on `/approvals/*`, then `approvalRoutes()` at `/approvals`),
 * on the real broker with its memory store, for `app.request()` tests.
 *
 * @module
 */
import { Hono } from "hono";
import type {
  ApprovalBroker,
  ApprovalOutcome,
  ApprovalSubject,
} from "../../../../gateway/approvals/approval.ts";
import { createApprovalBroker } from "../../../../gateway/approvals/broker.ts";
import {
  approvalRoutes,
  type ConsoleSessions,
  MemoryConsoleSessions,
} from "../../../../gateway/approvals/http/mod.ts";
import { apiKeyDigest } from "../../../../gateway/config/mod.ts";
import {
  clientIp,
  type GatewayEnv,
  hostGuard,
} from "../../../../gateway/http/mod.ts";
import {
  createRateLimits,
  type RateLimits,
} from "../../../../gateway/rate_limits.ts";
import { Secret } from "../../../../vault/secret.ts";
import { eventually } from "../../../support/eventually.ts";

/** The approvers every test logs in as. */
export const ALICE_KEY = `alice-${"a".repeat(40)}`;
export const BOB_KEY = `bob-${"b".repeat(40)}`;
/** The host the tests' requests name (ALLOWED_HOSTS). */
export const HOST = "approvals.test";
export const BASE = `http://${HOST}/approvals`;

/** A subject as the pipeline files it. */
export function subject(
  overrides: Partial<ApprovalSubject> = {},
): ApprovalSubject {
  return {
    principal: "agent-1",
    clientIp: "10.0.0.7",
    tool: "ssh_execute",
    host: "web-01.corp.example",
    port: 22,
    safe: "PROD-LINUX",
    object: "linux-root",
    username: "root",
    command: "apt-get install -y apache2",
    rule: "patching-needs-approval",
    reason: "Apache patching run",
    handleId: "h_0123456789abcdef",
    ...overrides,
  };
}

/** Options of {@linkcode approvalsHarness}. */
export interface HarnessOptions {
  sessionSeconds?: number;
  secureCookies?: boolean;
  sessions?: ConsoleSessions;
  /** Failed logins per address before 429 (default 5). */
  failureLimit?: number;
  timeoutSeconds?: number;
  /** `ALLOWED_HOSTS` of the gateway in front; default `[HOST]`. */
  allowedHosts?: string[];
  /** `TRUSTED_PROXIES`; default none. */
  trustedProxies?: string[];
}

/** A mounted console with its broker. */
export interface Harness {
  app: Hono<GatewayEnv>;
  broker: ApprovalBroker;
  sessions: ConsoleSessions;
  rateLimits: RateLimits;
  /** `app.request()` from `ip` (default 192.0.2.10) with `Host: HOST`. */
  request(path: string, init?: RequestInit, ip?: string): Promise<Response>;
  /** Logs in with `key` and returns the cookie header and CSRF token. */
  login(key: string, ip?: string): Promise<LoggedIn>;
  /** Files a pending request and returns its id and the waiting call's outcome. */
  file(overrides?: Partial<ApprovalSubject>): Promise<Filed>;
  close(): Promise<void>;
}

/** A console session: send `cookie` and `csrf` back. */
export interface LoggedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

/** A pending request and its waiting call. */
export interface Filed {
  id: string;
  outcome: Promise<ApprovalOutcome>;
}

/** Builds the harness. */
export function approvalsHarness(options: HarnessOptions = {}): Harness {
  const broker = createApprovalBroker({
    timeoutSeconds: options.timeoutSeconds ?? 300,
  });
  const sessions = options.sessions ?? new MemoryConsoleSessions();
  const rateLimits = createRateLimits({
    authFailures: { limit: options.failureLimit ?? 5, windowSeconds: 60 },
    toolCalls: { limit: 0, windowSeconds: 60 },
  });
  const app = new Hono<GatewayEnv>();
  app.use(
    "/approvals/*",
    clientIp({ trustedProxies: options.trustedProxies ?? [] }),
  );
  app.use(
    "/approvals/*",
    hostGuard({ allowedHosts: options.allowedHosts ?? [HOST] }),
  );
  app.route(
    "/approvals",
    approvalRoutes({
      broker,
      approvers: [
        { name: "alice", sha256: new Secret(apiKeyDigest(ALICE_KEY)) },
        { name: "agent-1", sha256: new Secret(apiKeyDigest(BOB_KEY)) },
      ],
      sessionSeconds: options.sessionSeconds ?? 600,
      sessions,
      secureCookies: options.secureCookies ?? false,
      failures: rateLimits.authFailures,
    }),
  );
  const request = (
    path: string,
    init: RequestInit = {},
    ip = "192.0.2.10",
  ): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (!headers.has("host")) headers.set("host", HOST);
    return Promise.resolve(
      app.request(`${BASE}${path}`, { ...init, headers }, {
        remoteAddr: { transport: "tcp", hostname: ip, port: 40000 },
      }),
    );
  };
  const pendingCalls: Promise<unknown>[] = [];
  return {
    app,
    broker,
    sessions,
    rateLimits,
    request,
    login: async (key, ip) => {
      const response = await request("/login", {
        method: "POST",
        body: new URLSearchParams({ key }),
      }, ip);
      await response.body?.cancel();
      if (response.status !== 303) {
        throw new Error(`login answered ${response.status}`);
      }
      const setCookie = response.headers.get("set-cookie") ?? "";
      const cookie = setCookie.split(";")[0]!;
      const session = await request("/api/session", {
        headers: { cookie },
      }, ip);
      const body = await session.json();
      return { cookie, csrf: body.csrfToken, setCookie };
    },
    file: async (overrides = {}) => {
      const before = new Set((await broker.list()).map((r) => r.id));
      const outcome = broker.requestApproval(subject(overrides));
      pendingCalls.push(outcome.catch(() => {}));
      const id = await eventually(async () => {
        const found = (await broker.list({ state: "pending" })).find((r) =>
          !before.has(r.id)
        );
        if (found === undefined) throw new Error("request not filed yet");
        return found.id;
      });
      return { id, outcome };
    },
    close: async () => {
      await broker.close();
      await Promise.all(pendingCalls);
      await sessions.close();
      await rateLimits.close();
    },
  };
}
