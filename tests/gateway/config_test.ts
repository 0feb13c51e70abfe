import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "../support/assert.ts";
import { ConfigError, loadConfig } from "../../gateway/config.ts";

const KEY = "k".repeat(16) + "0123456789abcdef0123";
const BASE: Record<string, string> = {
  MCP_API_KEYS: KEY,
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

function load(
  overrides: Record<string, string | undefined>,
): ReturnType<typeof loadConfig> {
  const env: Record<string, string> = { ...BASE };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return loadConfig({ env, home: "/home/mcpuser" });
}

function failure(overrides: Record<string, string | undefined>): ConfigError {
  return assertThrows(() => load(overrides), ConfigError);
}

Deno.test("loadConfig() applies the manual's defaults", () => {
  const config = load({});
  assertEquals(config.handles, {
    ttlSeconds: 300,
    singleUse: true,
    hostBinding: true,
  });
  assertEquals(config.cyberark.verifyTls, true);
  assertEquals(config.cyberark.timeoutMs, 30_000);
  assertEquals(config.winrmAuth, "ntlm");
  assertEquals(config.sshKnownHosts, {
    mode: "file",
    path: "/home/mcpuser/.ssh/known_hosts",
  });
  assertEquals(config.log, { format: "json", level: "info" });
  assertEquals(config.http.hostname, "0.0.0.0");
  assertEquals(config.http.port, 8443);
  assertEquals(config.apiKeys.length, 1);
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() errors are one line naming the variable and the fix", () => {
  const cases: [Record<string, string | undefined>, string, string][] = [
    [{ MCP_API_KEYS: undefined }, "MCP_API_KEYS", "is not set"],
    [{ MCP_API_KEYS: "" }, "MCP_API_KEYS", "is empty"],
    [
      { MCP_API_KEYS: "changeme" + "x".repeat(40) },
      "MCP_API_KEYS",
      'placeholder "changeme"',
    ],
    [
      { MCP_API_KEYS: `${KEY},short` },
      "MCP_API_KEYS",
      "key 2 of 2 is 5 characters long; use at least 32",
    ],
    [{ MCP_API_KEYS: `${KEY}, ${KEY}` }, "MCP_API_KEYS", "no spaces"],
    [{ CYBERARK_CCP_URL: undefined }, "CYBERARK_CCP_URL", "is not set"],
    [
      { CYBERARK_CCP_URL: "cyberark.internal" },
      "CYBERARK_CCP_URL",
      "is not a URL",
    ],
    [
      { CYBERARK_CCP_URL: "ftp://x/y" },
      "CYBERARK_CCP_URL",
      "must start with https://",
    ],
    [
      { CYBERARK_CCP_URL: "https://h/AIMWebService/api/Accounts?AppID=x" },
      "CYBERARK_CCP_URL",
      "query string",
    ],
    [{ CYBERARK_APP_ID: "" }, "CYBERARK_APP_ID", "is empty"],
    [
      { CYBERARK_APP_ID: "My App&x" },
      "CYBERARK_APP_ID",
      "only letters, digits",
    ],
    [
      { CYBERARK_VERIFY_SSL: "/nonexistent/ca.pem" },
      "CYBERARK_VERIFY_SSL",
      "not found",
    ],
    [
      { CYBERARK_CERT_PFX_PATH: "/nonexistent/x.pfx" },
      "CYBERARK_CERT_PFX_PATH",
      "cannot be read",
    ],
    [
      { CYBERARK_CERT_PFX_PASSWORD: "pw" },
      "CYBERARK_CERT_PFX_PASSWORD",
      "CYBERARK_CERT_PFX_PATH is not",
    ],
    [
      { CYBERARK_TIMEOUT_SECONDS: "0" },
      "CYBERARK_TIMEOUT_SECONDS",
      "from 1 to 300",
    ],
    [
      { HANDLE_TTL_SECONDS: "abc" },
      "HANDLE_TTL_SECONDS",
      "not a whole number of seconds from 5 to 3600",
    ],
    [{ HANDLE_TTL_SECONDS: "-5" }, "HANDLE_TTL_SECONDS", "not a whole number"],
    [
      { HANDLE_SINGLE_USE: "maybe" },
      "HANDLE_SINGLE_USE",
      "set it to true or false",
    ],
    [
      { HANDLE_HOST_BINDING: "on" },
      "HANDLE_HOST_BINDING",
      "set it to true or false",
    ],
    [{ WINRM_AUTH: "kerberos" }, "WINRM_AUTH", "one of ntlm, basic"],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT", "one of json, console"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR"],
    [{ HOST: "0.0.0.0 ; rm" }, "HOST", "address to listen on"],
    [{ PORT: "70000" }, "PORT", "from 0 to 65535"],
    [
      { TRUSTED_PROXIES: "10.0.0.0/33" },
      "TRUSTED_PROXIES",
      "not an IP address or CIDR",
    ],
    [
      { ALLOWED_HOSTS: "good.example,bad host" },
      "ALLOWED_HOSTS",
      "not a host name",
    ],
    [{ MAX_REQUEST_BYTES: "12" }, "MAX_REQUEST_BYTES", "from 1024"],
  ];
  for (const [overrides, variable, text] of cases) {
    const error = failure(overrides);
    assertEquals(
      error.variable,
      variable,
      `variable for ${JSON.stringify(overrides)}`,
    );
    assertStringIncludes(error.message, text);
    assertMatch(
      error.message,
      new RegExp(`^Invalid configuration: ${variable} `),
    );
    assert(!error.message.includes("\n"), "one line");
  }
});

Deno.test("loadConfig() never echoes an API key in its error", () => {
  const secretish = "changeme-super-secret-api-key-value-123456";
  const error = failure({ MCP_API_KEYS: secretish });
  assert(!error.message.includes(secretish));
});

Deno.test("loadConfig() reads .env, and the environment wins over it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/.env`;
    Deno.writeTextFileSync(
      file,
      [
        "# comment",
        `MCP_API_KEYS=${KEY}`,
        'CYBERARK_CCP_URL="https://ccp.example/AIMWebService/api/Accounts"',
        "CYBERARK_APP_ID=FromFile # inline comment",
        "export HANDLE_TTL_SECONDS=120",
      ].join("\n"),
    );
    const config = loadConfig({
      env: { CYBERARK_APP_ID: "FromEnv" },
      envFile: file,
      home: "/h",
    });
    assertEquals(config.cyberark.appId, "FromEnv");
    assertEquals(config.handles.ttlSeconds, 120);
    assertEquals(config.cyberark.ccpUrl.host, "ccp.example");
    Deno.writeTextFileSync(file, "NOT A LINE\n");
    const error = assertThrows(
      () => loadConfig({ env: BASE, envFile: file }),
      ConfigError,
    );
    assertStringIncludes(error.message, "line 1: expected KEY=value");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig() warns about insecure choices", () => {
  const config = load({
    CYBERARK_VERIFY_SSL: "false",
    SSH_KNOWN_HOSTS: "disable",
    HANDLE_HOST_BINDING: "false",
    HANDLE_SINGLE_USE: "false",
    ALLOWED_HOSTS: "*",
  });
  assertEquals(config.cyberark.verifyTls, false);
  assertEquals(config.sshKnownHosts, { mode: "disable" });
  assertEquals(config.warnings.length, 5);
});

Deno.test("loadConfig() accepts a CA bundle path and expands ~", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/ca.pem`,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    Deno.writeTextFileSync(`${dir}/not-a-ca.pem`, "hello\n");
    const config = loadConfig({
      env: {
        ...BASE,
        CYBERARK_VERIFY_SSL: "~/ca.pem",
        SSH_KNOWN_HOSTS: "~/known_hosts",
      },
      home: dir,
    });
    assertEquals(config.cyberark.caBundlePath, `${dir}/ca.pem`);
    assertEquals(config.cyberark.verifyTls, true);
    assertEquals(config.sshKnownHosts, {
      mode: "file",
      path: `${dir}/known_hosts`,
    });
    const error = assertThrows(
      () =>
        loadConfig({
          env: { ...BASE, CYBERARK_VERIFY_SSL: `${dir}/not-a-ca.pem` },
          home: dir,
        }),
      ConfigError,
    );
    assertStringIncludes(error.message, "holds no PEM certificate");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
