import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  assertOneLineErrors,
  failure,
  load,
  PEM,
  withTempDir,
} from "./_env.ts";

Deno.test("loadConfig() gives db_query caps and fully verifying TLS by default", () => {
  const config = load({});
  assertEquals(config.databases, {
    defaultMaxRows: 1000,
    maxRows: 10_000,
    maxCellChars: 2000,
    postgres: { sslmode: "verify-full" },
    mysql: { mode: "verify_identity" },
    mssql: { encrypt: true, trustServerCertificate: false },
  });
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() warns about every insecure database TLS choice", () => {
  const config = load({
    PG_SSLMODE: "require",
    MYSQL_SSL: "DISABLED",
    MSSQL_TRUST_SERVER_CERTIFICATE: "true",
  });
  assertEquals(config.databases.postgres.sslmode, "require");
  assertEquals(config.databases.mysql.mode, "disabled");
  assertEquals(config.databases.mssql.trustServerCertificate, true);
  assertEquals(config.warnings.length, 3);
  assertStringIncludes(config.warnings[0]!, "PG_SSLMODE=require");
  assertStringIncludes(config.warnings[1]!, "MYSQL_SSL=disabled");
  assertStringIncludes(
    config.warnings[2]!,
    "MSSQL_TRUST_SERVER_CERTIFICATE=true",
  );
  for (const mode of ["disable", "prefer", "verify-ca"]) {
    assertEquals(load({ PG_SSLMODE: mode }).warnings.length, 1, mode);
  }
  const plain = load({ MSSQL_ENCRYPT: "false" });
  assertStringIncludes(plain.warnings[0]!, "MSSQL_ENCRYPT=false");
});

Deno.test("loadConfig() reads the database CA files and refuses bad ones in one line", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/db-ca.pem`, PEM);
    Deno.writeTextFileSync(`${dir}/not-a-ca.pem`, "hello\n");
    const config = load({
      PG_SSL_CA: "~/db-ca.pem",
      MYSQL_SSL_CA: `${dir}/db-ca.pem`,
      MSSQL_SSL_CA: `${dir}/db-ca.pem`,
    }, dir);
    assertEquals(config.databases.postgres.ca, PEM);
    assertEquals(config.databases.mysql.ca, PEM);
    assertEquals(config.databases.mssql.ca, PEM);
    assertEquals(config.warnings, []);
    for (const variable of ["PG_SSL_CA", "MYSQL_SSL_CA", "MSSQL_SSL_CA"]) {
      const notPem = failure({ [variable]: `${dir}/not-a-ca.pem` }, dir);
      assertEquals(notPem.variable, variable);
      assertStringIncludes(notPem.message, "holds no PEM certificate");
    }
    const unused = load({
      PG_SSL_CA: `${dir}/db-ca.pem`,
      PG_SSLMODE: "require",
    }, dir);
    assert(
      unused.warnings.some((w) =>
        w.startsWith("PG_SSL_CA is set but PG_SSLMODE=require")
      ),
      unused.warnings.join("\n"),
    );
  });
  const missing = failure({ MYSQL_SSL_CA: "/nonexistent/ca.pem" });
  assertEquals(missing.variable, "MYSQL_SSL_CA");
  assertMatch(
    missing.message,
    /^Invalid configuration: MYSQL_SSL_CA "\/nonexistent\/ca.pem" cannot be read \(not found\); set it to the path of a PEM CA bundle/,
  );
});

Deno.test("loadConfig() refuses bad db_query settings naming the variable and the fix", () => {
  assertOneLineErrors([
    [{ PG_SSLMODE: "allow" }, "PG_SSLMODE", "set it to one of disable, prefer"],
    [{ MYSQL_SSL: "true" }, "MYSQL_SSL", "verify_identity"],
    [{ MSSQL_ENCRYPT: "strict" }, "MSSQL_ENCRYPT", "set it to true or false"],
    [{ DB_MAX_CELL_CHARS: "5" }, "DB_MAX_CELL_CHARS", "from 16 to 1000000"],
    [{ DB_DEFAULT_MAX_ROWS: "0" }, "DB_DEFAULT_MAX_ROWS", "from 1 to"],
    [
      { DB_DEFAULT_MAX_ROWS: "500", DB_MAX_ROWS: "100" },
      "DB_DEFAULT_MAX_ROWS",
      "above DB_MAX_ROWS (100)",
    ],
  ]);
});
