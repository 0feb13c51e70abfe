import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { ConfigError, loadConfig } from "../../../gateway/config/mod.ts";
import {
  assertOneLineErrors,
  BASE,
  failure,
  load,
  PEM,
  withTempDir,
} from "./_env.ts";

Deno.test("loadConfig() errors are one line naming the variable and the fix: CYBERARK_VERIFY_SSL and the PFX", () => {
  assertOneLineErrors([
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
  ]);
});

Deno.test("loadConfig() accepts a CA bundle path and expands ~", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/ca.pem`, PEM);
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
  });
});

Deno.test("loadConfig() holds the CyberArk CA bundle's PEM text, read once at load", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/ca.pem`, PEM);
    const config = loadConfig({
      env: { ...BASE, CYBERARK_VERIFY_SSL: `${dir}/ca.pem` },
      home: dir,
    });
    // Rotating the file afterwards changes nothing until the next load.
    Deno.removeSync(`${dir}/ca.pem`);
    assertEquals(config.cyberark.caPem, PEM);
  });
  assertEquals(load({}).cyberark.caPem, undefined);
  assertEquals(
    load({ CYBERARK_VERIFY_SSL: "false" }).cyberark.caPem,
    undefined,
  );
});

Deno.test("loadConfig() refuses a client certificate over http:// and warns about http://", () => {
  const url = "http://127.0.0.1:8080/AIMWebService/api/Accounts";
  const http = load({ CYBERARK_CCP_URL: url });
  assertEquals(http.warnings, [
    "CYBERARK_CCP_URL uses http://: secrets cross the network in clear text; use https://",
  ]);
  withTempDir((dir) => {
    Deno.writeFileSync(`${dir}/client.pfx`, new Uint8Array([0x30]));
    const error = assertThrows(
      () =>
        loadConfig({
          env: {
            ...BASE,
            CYBERARK_CCP_URL: url,
            CYBERARK_CERT_PFX_PATH: "~/client.pfx",
          },
          home: dir,
        }),
      ConfigError,
    );
    assertEquals(error.variable, "CYBERARK_CERT_PFX_PATH");
    assertStringIncludes(error.message, "client certificates need https://");
  });
  assertEquals(
    failure({ CYBERARK_CERT_PFX_PATH: "/" }).variable,
    "CYBERARK_CERT_PFX_PATH",
  );
});
