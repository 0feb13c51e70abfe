/**
 * The fuzz suite's generators (fast-check arbitraries): hostile strings and
 * numbers, raw HTTP requests, JSON-RPC messages and batches, and tool
 * arguments built from a tool's listed input schema with mutations.
 *
 * Hosts are loopback names or strings no resolver accepts, so that no
 * generated call reaches past this machine.
 *
 * @module
 */
import fc from "fast-check";
import type { RawRequest } from "./_http.ts";

// ------------------------------------------------------------- strings

/** Single characters a careless parser trips on. */
const hostileUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 0x1f }).map((c) =>
      String.fromCharCode(c)
    ),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) =>
      String.fromCharCode(c)
    ),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0x7f, max: 0xffff }).map((c) =>
      String.fromCharCode(c)
    ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) =>
      String.fromCodePoint(c)
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "\u2028",
      "\u2029",
      "\ufeff",
      "\u202e",
      "\\",
      '"',
      "'",
      "%00",
      "%",
      "${",
      "{{",
      "\r\n",
      "../",
      "&",
      ";",
      "+",
      "#",
      "?",
      "=",
      "*",
      "secret://",
    ),
  },
);

/** A lone UTF-16 surrogate (invalid in UTF-8), high or low. */
export const loneSurrogate: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdbff }),
  fc.integer({ min: 0xdc00, max: 0xdfff }),
).map((c) => String.fromCharCode(c));

/**
 * Strings with control characters, NUL, lone surrogates, astral and
 * direction-changing characters, quotes and escapes, the names of
 * Object.prototype's members; sometimes long.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  // Names an object lookup may find on Object.prototype.
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "__proto__",
      "constructor",
      "toString",
      "hasOwnProperty",
      "prototype",
    ),
  },
  { weight: 4, arbitrary: fc.string({ unit: hostileUnit, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(hostileUnit, fc.integer({ min: 100, max: 20_000 }))
      .map(([unit, times]) => unit.repeat(times)),
  },
);

/** A string with one lone surrogate inserted somewhere in `base`. */
export function withLoneSurrogate(base: string): fc.Arbitrary<string> {
  return fc.tuple(loneSurrogate, fc.nat({ max: base.length })).map((
    [surrogate, at],
  ) => base.slice(0, at) + surrogate + base.slice(at));
}

/** Any JSON value, nesting a few levels deep. */
export const jsonValue: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

// ------------------------------------------------------------- numbers

/** Numbers at and past the bounds a schema or a port has. */
export function boundaryNumber(
  bounds: { min?: number; max?: number } = {},
): fc.Arbitrary<number> {
  const edges = [0, -0, -1, 1, 1.5, -1.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32];
  edges.push(2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324);
  edges.push(65535, 65536);
  for (const bound of [bounds.min, bounds.max]) {
    if (bound !== undefined) edges.push(bound - 1, bound, bound + 1);
  }
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...edges) },
    { weight: 1, arbitrary: fc.integer() },
    {
      weight: 1,
      arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }),
    },
  );
}

// --------------------------------------------------------------- hosts

/** Loopback names and addresses in the spellings a client might use. */
export const loopbackHost: fc.Arbitrary<string> = fc.constantFrom(
  "127.0.0.1",
  "localhost",
  "::1",
  "[::1]",
  "127.0.0.2",
  "0x7f.1",
  "127.1",
  "LOCALHOST",
  "localhost.",
);

/**
 * Host arguments that can reach no other machine: loopback spellings, or
 * junk that holds a character no host name or address has.
 */
export const safeHost: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: loopbackHost },
  {
    weight: 3,
    arbitrary: fc.tuple(
      hostileString,
      fc.constantFrom(" ", "/", "@", "\\", "\0", '"', "<", "\n", "$"),
      hostileString,
    ).map(([a, bad, b]) => `${a}${bad}${b}`),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 254, max: 2000 }).map((n) =>
      "a".repeat(n) + "_"
    ),
  },
);

// ------------------------------------------------------------- handles

/** Handle-shaped strings that the gateway never issued. */
export const junkHandle: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.constantFrom(
        ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
      ),
      minLength: 43,
      maxLength: 43,
    }).map((s) => `secret://${s}`),
  },
  { weight: 2, arbitrary: hostileString.map((s) => `secret://${s}`) },
  { weight: 1, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "secret://",
      "secret:///",
      "SECRET://AAAA",
      "secret://../../etc/passwd",
      "secret://" + "A".repeat(100),
      "secret://__proto__",
      "secret://constructor",
    ),
  },
);

// ------------------------------------------------------------ JSON-RPC

/** The MCP protocol versions the SDK knows, and some it does not. */
export const PROTOCOL_VERSIONS = [
  "2025-11-25",
  "2025-06-18",
  "2025-03-26",
  "2024-11-05",
  "2024-10-07",
] as const;

/** Methods the gateway serves, and some it does not. */
export const METHODS = [
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "resources/list",
  "resources/read",
  "prompts/list",
  "logging/setLevel",
  "completion/complete",
  "sampling/createMessage",
] as const;

/** The tools, one per endpoint, and names that are none of them. */
export const TOOL_NAMES = [
  "get_credential",
  "ssh_execute",
  "ps_execute",
  "db_query",
  "GET_CREDENTIAL",
  "get_credential ",
  "",
] as const;

/** JSON-RPC ids of every JSON type. */
export const jsonRpcId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer() },
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(null, true, false, 1.5, -0, 2 ** 53 + 2),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.object({ maxDepth: 1 }), fc.array(fc.integer())),
  },
);

/** `initialize` params: each field well-typed or not. */
export const initializeParams: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    protocolVersion: fc.oneof(
      fc.constantFrom(...PROTOCOL_VERSIONS),
      hostileString,
      jsonValue,
    ),
    capabilities: fc.oneof(
      fc.constant({}),
      fc.object({ maxDepth: 2 }),
      jsonValue,
    ),
    clientInfo: fc.oneof(
      fc.record({ name: hostileString, version: hostileString }),
      jsonValue,
    ),
  }, { requiredKeys: [] });

/** `tools/call` params: a tool name, arguments and a progress token, any of them wrong. */
export const toolsCallParams: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    name: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...TOOL_NAMES) },
      { weight: 1, arbitrary: hostileString },
      { weight: 1, arbitrary: jsonValue },
    ),
    arguments: fc.oneof(fc.object({ maxDepth: 2 }), jsonValue),
    _meta: fc.oneof(
      fc.record({ progressToken: fc.oneof(fc.integer(), fc.string()) }),
      jsonValue,
    ),
  },
  { requiredKeys: [] },
);

/** `params` of every kind: absent, method-shaped, any object, array or primitive. */
const params: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: initializeParams },
  { weight: 3, arbitrary: toolsCallParams },
  { weight: 2, arbitrary: fc.object({ maxDepth: 2 }) },
  { weight: 1, arbitrary: jsonValue },
);

/**
 * One JSON-RPC message: mostly a well-formed envelope with random method,
 * id and params, sometimes without `jsonrpc`, id or method, or with the
 * wrong types, and sometimes with extra members.
 */
export const jsonRpcMessage: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    jsonrpc: fc.oneof(
      { weight: 8, arbitrary: fc.constant("2.0") },
      { weight: 1, arbitrary: fc.constantFrom("1.0", "2", 2, null, "") },
    ),
    id: jsonRpcId,
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...METHODS) },
      { weight: 1, arbitrary: hostileString },
      { weight: 1, arbitrary: jsonValue },
    ),
    params,
    extra: fc.dictionary(
      fc.constantFrom("result", "error", "foo", "__proto__", "constructor"),
      jsonValue,
      { maxKeys: 2 },
    ),
  },
  { requiredKeys: ["method"] },
).map(({ extra, ...message }) => ({ ...(extra ?? {}), ...message }));

/** A JSON-RPC batch: 0 to 5 messages (the empty batch included). */
export const jsonRpcBatch: fc.Arbitrary<unknown[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: jsonRpcMessage },
    { weight: 1, arbitrary: jsonValue },
  ),
  { maxLength: 5 },
);

/** A POST body for an MCP endpoint: a message, a batch, or any JSON. */
export const jsonRpcBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: jsonRpcMessage },
  { weight: 2, arbitrary: jsonRpcBatch },
  { weight: 1, arbitrary: jsonValue },
);

/** JSON text nested `depth` levels deep, as arrays or objects. */
export function deeplyNested(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

// ------------------------------------------------------------ raw HTTP

/** What a raw HTTP request is sent to. */
export interface RawHttpContext {
  /** The gateway's port (for Host and Origin). */
  port: number;
  /** Valid API keys. */
  apiKeys: readonly string[];
  /** The gateway's `MAX_REQUEST_BYTES`. */
  maxRequestBytes: number;
}

/** A raw request, with whether it is deliberately not valid HTTP. */
export interface RawHttpCase {
  request: RawRequest;
  /** The path of the target, without its query. */
  path: string;
  malformed: boolean;
}

const KNOWN_PATHS = [
  "/health",
  "/ready",
  "/mcp/cyberark",
  "/mcp/ssh",
  "/mcp/powershell",
  "/mcp/database",
  "/mcp",
  "/mcp/",
  "/mcp/cyberark/",
  "/",
  "/approvals",
  "/approvals/",
  "/approvals/console.js",
  "/approvals/console.css",
  "/approvals/login",
  "/approvals/logout",
  "/approvals/api/session",
  "/approvals/api/requests",
  "/approvals/api/requests/00000000-0000-0000-0000-000000000000",
  "/approvals/api/requests/x/approve",
  "/.well-known/oauth-protected-resource",
  "/.well-known/oauth-protected-resource/mcp/cyberark",
  "/metrics",
] as const;

const PATH_CHARS = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@",
);

const percentEscape = fc.integer({ min: 0, max: 255 }).map((b) =>
  `%${b.toString(16).padStart(2, "0").toUpperCase()}`
);

const pathSegment: fc.Arbitrary<string> = fc.string({
  unit: fc.oneof({ weight: 5, arbitrary: PATH_CHARS }, {
    weight: 1,
    arbitrary: percentEscape,
  }),
  maxLength: 24,
});

const wellFormedPath: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(
      "/mcp/cyberark",
      "/mcp/ssh",
      "/mcp/powershell",
      "/mcp/database",
    ),
  },
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_PATHS) },
  { weight: 2, arbitrary: pathSegment.map((s) => `/mcp/${s}`) },
  {
    weight: 1,
    arbitrary: pathSegment.map((s) => `/approvals/api/requests/${s}`),
  },
  {
    weight: 1,
    arbitrary: fc.array(pathSegment, { minLength: 1, maxLength: 6 }).map((
      segments,
    ) => `/${segments.join("/")}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "//mcp//cyberark",
      "/mcp/%63yberark",
      "/MCP/CYBERARK",
      "/mcp/cyberark/..%2f..%2fhealth",
      "/mcp/./cyberark",
      "/mcp/cyberark%00",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/health/",
      "/" + "a".repeat(4000),
    ),
  },
);

const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.tuple(pathSegment, pathSegment).map(([k, v]) => `${k}=${v}`),
      { maxLength: 4 },
    ).map((pairs) => `?${pairs.join("&")}`),
  },
);

/** A header value of printable ASCII. */
const headerText: fc.Arbitrary<string> = fc.string({ maxLength: 60 }).map((
  s,
) => s.trim());

const token: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(
    ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~",
  ),
  minLength: 1,
  maxLength: 20,
});

/**
 * A header value that is mostly right: `valid` (weight 10), sometimes
 * `odd` (2) or left out (`absentWeight`), now and then junk (1).
 */
function usually(
  valid: fc.Arbitrary<string>,
  odd: fc.Arbitrary<string>,
  absentWeight = 1,
): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 10, arbitrary: valid },
    { weight: 2, arbitrary: odd },
    { weight: absentWeight, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerText },
  );
}

/** A header that is mostly absent (weight 8), else one of `values`. */
function rarely(
  values: fc.Arbitrary<string>,
): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: values },
  );
}

/**
 * The headers of a request: a client that gets most of them right, so
 * that most requests reach the MCP layer, with one or two wrong or missing
 * in many (a foreign Host or Origin, a wrong or repeated key, bearer junk,
 * an odd Content-Type or Accept, a forwarded address, 16 kB of padding),
 * and now and then a byte HTTP does not allow.
 */
function headers(
  context: RawHttpContext,
): fc.Arbitrary<{ lines: [string, string][]; malformed: boolean }> {
  const self = `127.0.0.1:${context.port}`;
  const valid = fc.constantFrom(...context.apiKeys);
  return fc.record({
    host: usually(
      fc.constantFrom(self, `localhost:${context.port}`),
      fc.constantFrom(
        "evil.example",
        "127.0.0.1:1",
        "[::1]",
        "localhost:" + "9".repeat(30),
        "127.0.0.1.nip.io",
      ),
      0,
    ),
    origin: rarely(
      fc.oneof(
        fc.constantFrom(
          `http://${self}`,
          `http://localhost:${context.port}`,
          "http://evil.example",
          "null",
          "data:,",
          "http://[::1",
          "https://localhost",
        ),
        headerText,
      ),
    ),
    contentType: usually(
      fc.constantFrom("application/json", "application/json; charset=utf-8"),
      fc.constantFrom(
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "APPLICATION/JSON",
        "application/json; charset=latin1",
        "application/jsonx",
      ),
    ),
    accept: usually(
      fc.constant("application/json, text/event-stream"),
      fc.constantFrom(
        "application/json",
        "text/event-stream",
        "*/*",
        "text/html",
        "application/json;q=0, text/event-stream;q=0",
      ),
    ),
    sessionId: rarely(fc.oneof(fc.uuid(), token, headerText)),
    protocolVersion: rarely(
      fc.oneof(fc.constantFrom(...PROTOCOL_VERSIONS), headerText),
    ),
    apiKey: fc.oneof(
      { weight: 12, arbitrary: valid.map((k) => [k]) },
      { weight: 1, arbitrary: fc.constant([] as string[]) },
      { weight: 1, arbitrary: headerText.map((k) => [k]) },
      // A valid key with one character more.
      { weight: 1, arbitrary: valid.map((k) => [`${k}x`]) },
      { weight: 1, arbitrary: fc.tuple(valid, headerText).map((ks) => ks) },
    ),
    authorization: rarely(
      fc.oneof(
        headerText.map((t) => `Bearer ${t}`),
        valid.map((k) => `Bearer ${k}`),
        fc.constantFrom(
          "Bearer",
          "Bearer ",
          "Basic Zm9vOmJhcg==",
          "Negotiate x",
        ),
        headerText,
      ),
    ),
    // Behind the trusted loopback proxy most requests come from an address
    // of their own, so that one that failed to authenticate too often
    // (429) does not block the rest. The harness's marker calls come from
    // 192.0.2.1, which is never generated.
    forwardedFor: fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 8, arbitrary: fc.ipV4() },
      { weight: 1, arbitrary: fc.ipV6() },
      {
        weight: 1,
        arbitrary: fc.array(fc.ipV4(), { minLength: 2, maxLength: 4 }).map(
          (ips) => ips.join(", "),
        ),
      },
      { weight: 1, arbitrary: headerText },
    ).filter((xff) => !(xff ?? "").includes("192.0.2.")),
    padding: rarely(
      fc.integer({ min: 1, max: 16_000 }).map((n) => "p".repeat(n)),
    ),
    extra: fc.array(fc.tuple(token, headerText), { maxLength: 3 }),
    broken: fc.oneof(
      { weight: 20, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: headerText.map((t) => `${t}\u0000${t}`) },
      { weight: 1, arbitrary: headerText.map((t) => `${t}\u007f\u00ff`) },
    ),
  }).map((h) => {
    const lines: [string, string][] = [];
    const add = (name: string, value: string | undefined): void => {
      if (value !== undefined) lines.push([name, value]);
    };
    add("Host", h.host);
    add("Origin", h.origin);
    add("Content-Type", h.contentType);
    add("Accept", h.accept);
    add("Mcp-Session-Id", h.sessionId);
    add("Mcp-Protocol-Version", h.protocolVersion);
    for (const key of h.apiKey) add("X-API-Key", key);
    add("Authorization", h.authorization);
    add("X-Forwarded-For", h.forwardedFor);
    add("X-Fuzz-Padding", h.padding);
    for (const [name, value] of h.extra) {
      // Framing stays the harness's: the fuzzer's own Content-Length,
      // Transfer-Encoding or Connection would only desynchronise the socket.
      if (!/^(content-length|transfer-encoding|connection|host)$/i.test(name)) {
        add(name, value);
      }
    }
    add("X-Fuzz-Broken", h.broken);
    return { lines, malformed: h.broken !== undefined };
  });
}

const encoder = new TextEncoder();

function body(context: RawHttpContext): fc.Arbitrary<Uint8Array> {
  const limit = context.maxRequestBytes;
  const text = (arb: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> =>
    arb.map((s) => encoder.encode(s));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(new Uint8Array()) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
    { weight: 2, arbitrary: text(fc.json({ maxDepth: 3 })) },
    { weight: 4, arbitrary: text(jsonRpcBody.map((v) => JSON.stringify(v))) },
    {
      weight: 2,
      arbitrary: fc.tuple(jsonRpcMessage, fc.double({ min: 0, max: 1 }))
        .map(([message, cut]) => {
          const whole = JSON.stringify(message);
          return encoder.encode(whole.slice(0, Math.floor(whole.length * cut)));
        }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.integer({ min: 1, max: Math.floor(limit / 2) + 64 }),
        fc.constantFrom("array" as const, "object" as const),
      ).map(([depth, kind]) => {
        const nested = deeplyNested(
          kind === "array" ? depth : Math.floor(depth / 3),
          kind,
        );
        return encoder.encode(
          `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_credential","arguments":{"safe":${nested}}}}`,
        );
      }),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: limit - 64, max: limit + 64 }).map((n) => {
        const head = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"p":"';
        const tail = '"}}';
        return encoder.encode(
          head + "x".repeat(Math.max(0, n - head.length - tail.length)) + tail,
        );
      }),
    },
  );
}

const METHOD_NAMES = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "HEAD",
  "OPTIONS",
  "PATCH",
] as const;

/** A raw request as readable text: its head, and its body cut at 300 bytes. */
export function describeRawRequest(request: RawRequest): string {
  const head = [
    `${request.method} ${request.target} HTTP/1.1`,
    ...request.headers.map(([name, value]) =>
      `${name}: ${
        value.length > 200
          ? `${value.slice(0, 200)}... (${value.length} chars)`
          : value
      }`
    ),
    ...(request.chunked ? ["Transfer-Encoding: chunked"] : []),
  ];
  const body = new TextDecoder().decode(request.body.subarray(0, 300));
  return `${
    JSON.stringify(head.join("\r\n"))
  } + body (${request.body.length} bytes) ${JSON.stringify(body)}`;
}

/** Raw HTTP requests to the gateway's paths, with hostile headers and bodies. */
export function rawHttpRequest(
  context: RawHttpContext,
): fc.Arbitrary<RawHttpCase> {
  return fc.record({
    method: fc.oneof(
      { weight: 10, arbitrary: fc.constant("POST") },
      { weight: 10, arbitrary: fc.constantFrom(...METHOD_NAMES) },
      {
        weight: 1,
        arbitrary: fc.constantFrom("TRACE", "PROPFIND", "get", "M-SEARCH"),
      },
      { weight: 1, arbitrary: token },
    ),
    path: wellFormedPath,
    query,
    // One path in 16 holds bytes a request line does not allow.
    rawPath: fc.oneof(
      { weight: 15, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.string({
          unit: "binary-ascii",
          minLength: 1,
          maxLength: 30,
        }).map((s) => `/mcp/${s}`),
      },
    ),
    headers: headers(context),
    body: body(context),
    // One request in six sends its body in chunks.
    chunked: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  }).map((r) => {
    const rawPath = r.rawPath;
    const path = rawPath ?? r.path;
    const malformed = r.headers.malformed ||
      (rawPath !== undefined && /[^\x21-\x7e]/.test(rawPath));
    const request: RawRequest = {
      method: r.method,
      target: `${path}${rawPath === undefined ? r.query : ""}`,
      headers: r.headers.lines,
      body: r.body,
      chunked: r.chunked,
    };
    return {
      request,
      path,
      malformed,
      // How a counterexample prints: the request as text, the body cut.
      [fc.toStringMethod]: () => describeRawRequest(request),
    };
  });
}

// --------------------------------------------------------- tool arguments

/** The part of a JSON Schema that the tools' input schemas use. */
export interface JsonSchemaProperty {
  type?: string;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

/** A tool's input schema as `tools/list` shows it. */
export interface ToolInputSchema {
  properties?: Record<string, JsonSchemaProperty>;
  required?: string[];
}

/** A value of a property's type, within its bounds. */
function validValue(property: JsonSchemaProperty): fc.Arbitrary<unknown> {
  if (property.enum !== undefined) return fc.constantFrom(...property.enum);
  switch (property.type) {
    case "string":
      return fc.string({
        minLength: Math.max(1, property.minLength ?? 0),
        maxLength: Math.min(property.maxLength ?? 40, 40),
      });
    case "integer":
      return fc.integer({
        min: Math.ceil(property.minimum ?? -1000),
        max: Math.floor(Math.min(property.maximum ?? 1000, 2 ** 31)),
      });
    case "number":
      return fc.double({
        min: property.minimum ?? -1000,
        max: property.maximum ?? 1000,
        noNaN: true,
      });
    case "boolean":
      return fc.boolean();
    default:
      return jsonValue;
  }
}

/** A value of the wrong type for a property. */
function wrongType(property: JsonSchemaProperty): fc.Arbitrary<unknown> {
  const kind = (value: unknown): string =>
    value === null
      ? "null"
      : Array.isArray(value)
      ? "array"
      : Number.isInteger(value)
      ? "integer"
      : typeof value;
  const own = property.type === "number"
    ? ["integer", "number"]
    : [property.type ?? ""];
  return jsonValue.filter((value) => !own.includes(kind(value)));
}

/** Values just past or at a property's bounds, and hostile ones. */
function mutatedValue(property: JsonSchemaProperty): fc.Arbitrary<unknown> {
  const choices: fc.Arbitrary<unknown>[] = [wrongType(property)];
  if (property.type === "string" || property.enum !== undefined) {
    choices.push(hostileString);
    const max = property.maxLength;
    if (max !== undefined && max <= 1024 * 1024) {
      choices.push(
        fc.constantFrom(max - 1, max, max + 1).map((n) => "x".repeat(n)),
      );
    }
    choices.push(fc.constant(""));
  }
  if (property.type === "integer" || property.type === "number") {
    choices.push(
      boundaryNumber({
        ...(property.minimum === undefined ? {} : { min: property.minimum }),
        ...(property.maximum === undefined ? {} : { max: property.maximum }),
      }),
    );
  }
  choices.push(fc.object({ maxDepth: 3 }), fc.array(jsonValue));
  return fc.oneof(...choices);
}

/** Options of {@linkcode toolArguments}. */
export interface ToolArgumentsOptions {
  /** Generators that replace the schema's for some arguments (host, handle). */
  overrides?: Record<string, fc.Arbitrary<unknown>>;
}

/**
 * Arguments for a tool from its input schema: each argument valid, mutated
 * (wrong type, bounds, hostile text, nested objects) or left out, plus
 * extra members now and then.
 */
export function toolArguments(
  schema: ToolInputSchema,
  options: ToolArgumentsOptions = {},
): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(schema.properties ?? {}).map((
    [name, property],
  ) => {
    const valid = options.overrides?.[name] ?? validValue(property);
    const required = schema.required?.includes(name) ?? false;
    const value = fc.oneof(
      { weight: 5, arbitrary: valid.map((v) => ({ v })) },
      { weight: 3, arbitrary: mutatedValue(property).map((v) => ({ v })) },
      { weight: required ? 1 : 3, arbitrary: fc.constant(undefined) },
    );
    return [name, value] as const;
  });
  return fc.tuple(
    fc.tuple(...entries.map(([, value]) => value)),
    fc.dictionary(fc.oneof(token, hostileString), jsonValue, { maxKeys: 2 }),
    fc.integer({ min: 0, max: 4 }),
  ).map(([values, extra, extraWeight]) => {
    const args: Record<string, unknown> = extraWeight === 0 ? { ...extra } : {};
    entries.forEach(([name], i) => {
      const slot = values[i];
      if (slot !== undefined) args[name] = slot.v;
    });
    return args;
  });
}

/** The body of one `tools/call` request. */
export function toolCallBody(
  name: string,
  args: unknown,
  id: number | string = 1,
): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args },
  });
}
