import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { CONFIG_VARIABLES } from "../../../gateway/config/mod.ts";
import {
  MysqlTlsSchema,
  PostgresTlsSchema,
} from "../../../executors/protocol/mod.ts";
import {
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_MAX_QUEUED,
  MAX_OUTPUT_BYTES_LIMIT,
  MAX_TIMEOUT_MS,
} from "../../../executors/spawner/mod.ts";
import { assertOneLineErrors, failure, KEY, load } from "./_env.ts";

Deno.test("loadConfig() errors are one line naming the variable and the fix", () => {
  assertOneLineErrors([
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
    [{ PORT: "70000" }, "PORT", "from 0 to 65535"],
    [{ MAX_REQUEST_BYTES: "12" }, "MAX_REQUEST_BYTES", "from 1024"],
  ]);
});

Deno.test("loadConfig() never echoes an API key in its error", () => {
  const secretish = "changeme-super-secret-api-key-value-123456";
  const error = failure({ MCP_API_KEYS: secretish });
  assert(!error.message.includes(secretish));
});

Deno.test("loadConfig() accepts WINRM_AUTH ntlm or basic only", () => {
  assertEquals(load({}).winrmAuth, "ntlm");
  assertEquals(load({ WINRM_AUTH: "Basic" }).winrmAuth, "basic");
  const error = failure({ WINRM_AUTH: "kerberos" });
  assertEquals(error.variable, "WINRM_AUTH");
  assertStringIncludes(error.message, "set it to one of ntlm, basic");
});

Deno.test("the env schema takes TLS modes and executor limits from the protocol and the spawner", () => {
  assertStringIncludes(
    failure({ PG_SSLMODE: "x" }).message,
    `one of ${PostgresTlsSchema.shape.sslmode.options.join(", ")} (`,
  );
  assertStringIncludes(
    failure({ MYSQL_SSL: "x" }).message,
    `one of ${MysqlTlsSchema.shape.mode.options.join(", ")} (`,
  );
  const executors = load({}).executors;
  assertEquals(executors.maxConcurrent, DEFAULT_MAX_CONCURRENT);
  assertEquals(executors.maxQueued, DEFAULT_MAX_QUEUED);
  const seconds = MAX_TIMEOUT_MS / 1000;
  assertEquals(
    load({ EXECUTOR_MAX_TIMEOUT_SECONDS: String(seconds) }).executors
      .maxTimeoutSeconds,
    seconds,
  );
  assertStringIncludes(
    failure({ EXECUTOR_MAX_TIMEOUT_SECONDS: String(seconds + 1) }).message,
    `from 1 to ${seconds}`,
  );
  assertStringIncludes(
    failure({
      EXECUTOR_MAX_OUTPUT_BYTES: String(MAX_OUTPUT_BYTES_LIMIT + 1),
    }).message,
    `from 1024 to ${MAX_OUTPUT_BYTES_LIMIT}`,
  );
});

Deno.test("CONFIG_VARIABLES lists every variable once, ENV_FILE included", () => {
  assertEquals(new Set(CONFIG_VARIABLES).size, CONFIG_VARIABLES.length);
  for (
    const name of [
      "MCP_API_KEYS",
      "WINRM_VERIFY_SSL",
      "MSSQL_SSL_CA",
      "ENV_FILE",
    ]
  ) {
    assert(CONFIG_VARIABLES.includes(name), name);
  }
});
