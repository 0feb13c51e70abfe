import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { failure, load, PEM, withTempDir } from "./_env.ts";

Deno.test("loadConfig() reads WINRM_VERIFY_SSL as true, false or a CA bundle, and warns when false", () => {
  assertEquals(load({}).winrmTls, { verifyTls: true });
  assertEquals(load({ WINRM_VERIFY_SSL: "yes" }).winrmTls, { verifyTls: true });
  const off = load({ WINRM_VERIFY_SSL: "false" });
  assertEquals(off.winrmTls, { verifyTls: false });
  assert(
    off.warnings.some((w) => w.startsWith("WINRM_VERIFY_SSL=false")),
    "a warning at start-up",
  );
  assertEquals(load({}).warnings.some((w) => w.includes("WINRM")), false);
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/winrm-ca.pem`, PEM);
    Deno.writeTextFileSync(`${dir}/empty.pem`, "\n");
    const config = load({ WINRM_VERIFY_SSL: "~/winrm-ca.pem" }, dir);
    assertEquals(config.winrmTls, {
      verifyTls: true,
      caBundlePath: `${dir}/winrm-ca.pem`,
      caPem: PEM,
    });
    const notPem = failure({ WINRM_VERIFY_SSL: `${dir}/empty.pem` }, dir);
    assertEquals(notPem.variable, "WINRM_VERIFY_SSL");
    assertStringIncludes(notPem.message, "holds no PEM certificate");
  });
  const missing = failure({ WINRM_VERIFY_SSL: "/nonexistent/ca.pem" });
  assertEquals(missing.variable, "WINRM_VERIFY_SSL");
  assertMatch(
    missing.message,
    /^Invalid configuration: WINRM_VERIFY_SSL is neither true, false nor a readable CA bundle: "\/nonexistent\/ca.pem" \(not found\)/,
  );
  assert(!missing.message.includes("\n"), "one line");
});

Deno.test("loadConfig() reads the WinRM CA bundle once: ps_execute needs no file", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/winrm-ca.pem`, PEM);
    const config = load({ WINRM_VERIFY_SSL: `${dir}/winrm-ca.pem` }, dir);
    Deno.writeTextFileSync(`${dir}/winrm-ca.pem`, "rotated\n");
    assertEquals(config.winrmTls.caPem, PEM);
  });
});
