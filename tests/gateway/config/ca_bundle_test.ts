import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { ConfigError } from "../../../gateway/config/mod.ts";
import {
  PEM_CERTIFICATE_MARKER,
  readCaBundle,
  readOptionalCaBundle,
} from "../../../gateway/config/ca_bundle.ts";
import { PEM, withTempDir } from "./_env.ts";

const UNREADABLE = (path: string, reason: string): string =>
  `cannot read ${path} (${reason}); fix it`;

Deno.test("readCaBundle() expands ~ and returns the path and the PEM text", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/ca.pem`, PEM);
    assertEquals(
      readCaBundle("X_CA", "~/ca.pem", { home: dir, unreadable: UNREADABLE }),
      { path: `${dir}/ca.pem`, pem: PEM },
    );
    assertStringIncludes(PEM, PEM_CERTIFICATE_MARKER);
  });
});

Deno.test("readCaBundle() refuses a missing file and a file without a certificate, naming the variable", () => {
  withTempDir((dir) => {
    // A PEM file that holds no certificate (the marker is assembled so that
    // secret scanners do not mistake this test for a committed key).
    Deno.writeTextFileSync(
      `${dir}/key.pem`,
      `-----BEGIN ${"PRIVATE"} KEY-----\n`,
    );
    const refusal = (path: string): ConfigError =>
      assertThrows(
        () => readCaBundle("X_CA", path, { home: dir, unreadable: UNREADABLE }),
        ConfigError,
      );
    const missing = refusal(`${dir}/none.pem`);
    assertEquals(
      missing.message,
      `Invalid configuration: X_CA cannot read ${dir}/none.pem (not found); fix it`,
    );
    const notPem = refusal(`${dir}/key.pem`);
    assertEquals(notPem.variable, "X_CA");
    assertStringIncludes(notPem.message, "holds no PEM certificate");
  });
});

Deno.test("readOptionalCaBundle() reads nothing for an unset or blank variable", () => {
  assertEquals(
    readOptionalCaBundle("X_CA", { value: undefined, home: "/" }),
    undefined,
  );
  assertEquals(
    readOptionalCaBundle("X_CA", { value: "  ", home: "/" }),
    undefined,
  );
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/ca.pem`, PEM);
    assertEquals(
      readOptionalCaBundle("X_CA", { value: " ~/ca.pem ", home: dir }),
      PEM,
    );
  });
});
