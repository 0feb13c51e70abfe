import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { ConfigError } from "../../../gateway/config/mod.ts";
import { parseVerifySsl } from "../../../gateway/config/verify_ssl.ts";
import { PEM, withTempDir } from "./_env.ts";

Deno.test("parseVerifySsl() reads true, false, 1, 0, yes and no in any case, true when unset", () => {
  const read = (value: string | undefined): boolean =>
    parseVerifySsl("X_VERIFY_SSL", { value, home: "/h" }).verifyTls;
  assertEquals(read(undefined), true);
  assertEquals(read("  "), true);
  for (const word of ["true", "TRUE", "1", "Yes"]) {
    assertEquals(read(word), true);
  }
  for (const word of ["false", "False", "0", "NO", " no "]) {
    assertEquals(read(word), false, word);
  }
});

Deno.test("parseVerifySsl() reads a CA bundle path into its PEM text and names the variable when it cannot", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/ca.pem`, PEM);
    assertEquals(
      parseVerifySsl("X_VERIFY_SSL", { value: "~/ca.pem", home: dir }),
      {
        verifyTls: true,
        caBundlePath: `${dir}/ca.pem`,
        caPem: PEM,
      },
    );
    const error = assertThrows(
      () => parseVerifySsl("X_VERIFY_SSL", { value: `${dir}/nope`, home: dir }),
      ConfigError,
    );
    assertEquals(error.variable, "X_VERIFY_SSL");
    assertStringIncludes(
      error.message,
      "is neither true, false nor a readable CA bundle",
    );
  });
});
