import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { ConfigError, loadConfig } from "../../../gateway/config/mod.ts";
import { readEnvFile } from "../../../gateway/config/env_file.ts";
import { BASE, KEY, withTempDir } from "./_env.ts";

Deno.test("loadConfig() reads .env, and the environment wins over it", () => {
  withTempDir((dir) => {
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
  });
});

Deno.test("readEnvFile() reads nothing without a path or a file, and names ENV_FILE when it cannot read one", () => {
  assertEquals(readEnvFile(undefined), {});
  assertEquals(readEnvFile("/nonexistent/.env"), {});
  withTempDir((dir) => {
    const error = assertThrows(() => readEnvFile(dir), ConfigError);
    assertEquals(error.variable, "ENV_FILE");
    assertStringIncludes(error.message, "make it readable by the service user");
  });
});
