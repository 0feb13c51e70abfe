import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { insecureDbTls } from "../../../gateway/config/mod.ts";
import {
  MysqlTlsSchema,
  PostgresTlsSchema,
} from "../../../executors/protocol/mod.ts";

Deno.test("insecureDbTls() names every PostgreSQL and MySQL mode short of full verification", () => {
  for (const sslmode of PostgresTlsSchema.shape.sslmode.options) {
    const warning = insecureDbTls("postgres", { sslmode });
    if (sslmode === "verify-full") assertEquals(warning, null);
    else assertStringIncludes(warning ?? "", `PG_SSLMODE=${sslmode}: `);
  }
  for (const mode of MysqlTlsSchema.shape.mode.options) {
    const warning = insecureDbTls("mysql", { mode });
    if (mode === "verify_identity") assertEquals(warning, null);
    else assertStringIncludes(warning ?? "", `MYSQL_SSL=${mode}: `);
  }
});

Deno.test("insecureDbTls() names SQL Server without encryption first, then an unchecked certificate", () => {
  assertEquals(
    insecureDbTls("mssql", { encrypt: true, trustServerCertificate: false }),
    null,
  );
  assertStringIncludes(
    insecureDbTls("mssql", { encrypt: false, trustServerCertificate: true }) ??
      "",
    "MSSQL_ENCRYPT=false",
  );
  assertStringIncludes(
    insecureDbTls("mssql", { encrypt: true, trustServerCertificate: true }) ??
      "",
    "MSSQL_TRUST_SERVER_CERTIFICATE=true",
  );
  assertEquals(
    insecureDbTls("mysql", { sslmode: "disable" }),
    null,
    "settings of another engine say nothing",
  );
});
