/**
 * Which database TLS settings fall short of full verification, in words.
 *
 * @module
 */
import type {
  MssqlTls,
  MysqlTls,
  PostgresTls,
} from "../../executors/protocol/mod.ts";

/** The database engines of `db_query`. */
export type DbEngine = "postgres" | "mysql" | "mssql";

/**
 * Why a database TLS setting is insecure, as the warning logged at start-up
 * and on every connection it applies to; null when it verifies fully.
 */
export function insecureDbTls(
  engine: DbEngine,
  tls: PostgresTls | MysqlTls | MssqlTls,
): string | null {
  if (engine === "postgres" && "sslmode" in tls) {
    switch (tls.sslmode) {
      case "disable":
        return "PG_SSLMODE=disable: PostgreSQL queries and results cross the network in clear text";
      case "prefer":
        return "PG_SSLMODE=prefer: the PostgreSQL certificate is not verified and a server without TLS is used in clear text";
      case "require":
        return "PG_SSLMODE=require: the PostgreSQL certificate is not verified (anyone on the path can impersonate the server)";
      case "verify-ca":
        return "PG_SSLMODE=verify-ca: the PostgreSQL certificate's host name is not checked";
      default:
        return null;
    }
  }
  if (engine === "mysql" && "mode" in tls) {
    switch (tls.mode) {
      case "disabled":
        return "MYSQL_SSL=disabled: MySQL queries and results cross the network in clear text";
      case "preferred":
        return "MYSQL_SSL=preferred: the MySQL certificate is not verified and a server without TLS is used in clear text";
      case "required":
        return "MYSQL_SSL=required: the MySQL certificate is not verified (anyone on the path can impersonate the server)";
      case "verify_ca":
        return "MYSQL_SSL=verify_ca: the MySQL certificate's host name is not checked";
      default:
        return null;
    }
  }
  if (engine === "mssql" && "encrypt" in tls) {
    if (!tls.encrypt) {
      return "MSSQL_ENCRYPT=false: SQL Server queries and results cross the network in clear text (at most the login is encrypted)";
    }
    if (tls.trustServerCertificate) {
      return "MSSQL_TRUST_SERVER_CERTIFICATE=true: the SQL Server certificate is not verified (anyone on the path can impersonate the server)";
    }
  }
  return null;
}
