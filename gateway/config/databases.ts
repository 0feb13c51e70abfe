/**
 * The `db_query` section: `DB_*` caps and per-engine TLS, whose CA bundles
 * (`PG_SSL_CA`, `MYSQL_SSL_CA`, `MSSQL_SSL_CA`) are read here, once.
 *
 * @module
 */
import type {
  MssqlTls,
  MysqlTls,
  PostgresTls,
} from "../../executors/protocol/mod.ts";
import { readOptionalCaBundle } from "./ca_bundle.ts";
import type { DatabaseConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import { insecureDbTls } from "./insecure_db_tls.ts";
import type { ParseContext } from "./_parse_context.ts";

/**
 * Builds the database section; warns about each setting that does not
 * verify fully and each CA bundle that goes unused.
 *
 * @throws {ConfigError} when DB_DEFAULT_MAX_ROWS is above DB_MAX_ROWS, or for an unreadable or non-PEM CA bundle
 */
export function parseDatabaseConfig(
  values: EnvValues,
  context: ParseContext,
): DatabaseConfig {
  if (values.DB_DEFAULT_MAX_ROWS > values.DB_MAX_ROWS) {
    throw new ConfigError(
      "DB_DEFAULT_MAX_ROWS",
      `is ${values.DB_DEFAULT_MAX_ROWS}, above DB_MAX_ROWS (${values.DB_MAX_ROWS}); lower it or raise the maximum`,
    );
  }
  return {
    defaultMaxRows: values.DB_DEFAULT_MAX_ROWS,
    maxRows: values.DB_MAX_ROWS,
    maxCellChars: values.DB_MAX_CELL_CHARS,
    ...parseDatabaseTls(values, context),
  };
}

function parseDatabaseTls(
  values: EnvValues,
  context: ParseContext,
): Pick<DatabaseConfig, "postgres" | "mysql" | "mssql"> {
  const { home, warnings } = context;
  const pgCa = readOptionalCaBundle("PG_SSL_CA", {
    value: values.PG_SSL_CA,
    home,
  });
  const mysqlCa = readOptionalCaBundle("MYSQL_SSL_CA", {
    value: values.MYSQL_SSL_CA,
    home,
  });
  const mssqlCa = readOptionalCaBundle("MSSQL_SSL_CA", {
    value: values.MSSQL_SSL_CA,
    home,
  });
  const postgres: PostgresTls = {
    sslmode: values.PG_SSLMODE,
    ...(pgCa === undefined ? {} : { ca: pgCa }),
  };
  const mysql: MysqlTls = {
    mode: values.MYSQL_SSL,
    ...(mysqlCa === undefined ? {} : { ca: mysqlCa }),
  };
  const mssql: MssqlTls = {
    encrypt: values.MSSQL_ENCRYPT,
    trustServerCertificate: values.MSSQL_TRUST_SERVER_CERTIFICATE,
    ...(mssqlCa === undefined ? {} : { ca: mssqlCa }),
  };
  const unused = (variable: string, setting: string, fix: string): void => {
    warnings.push(
      `${variable} is set but ${setting} does not verify certificates, so it is not used; ${fix}`,
    );
  };
  if (pgCa !== undefined && !values.PG_SSLMODE.startsWith("verify")) {
    unused(
      "PG_SSL_CA",
      `PG_SSLMODE=${values.PG_SSLMODE}`,
      "set PG_SSLMODE=verify-full",
    );
  }
  if (mysqlCa !== undefined && !values.MYSQL_SSL.startsWith("verify")) {
    unused(
      "MYSQL_SSL_CA",
      `MYSQL_SSL=${values.MYSQL_SSL}`,
      "set MYSQL_SSL=verify_identity",
    );
  }
  if (
    mssqlCa !== undefined &&
    (!values.MSSQL_ENCRYPT || values.MSSQL_TRUST_SERVER_CERTIFICATE)
  ) {
    unused(
      "MSSQL_SSL_CA",
      values.MSSQL_ENCRYPT
        ? "MSSQL_TRUST_SERVER_CERTIFICATE=true"
        : "MSSQL_ENCRYPT=false",
      "set MSSQL_ENCRYPT=true and MSSQL_TRUST_SERVER_CERTIFICATE=false",
    );
  }
  for (
    const [engine, tls] of [
      ["postgres", postgres],
      ["mysql", mysql],
      ["mssql", mssql],
    ] as const
  ) {
    const warning = insecureDbTls(engine, tls);
    if (warning !== null) {
      warnings.push(`${warning}; never use this in production`);
    }
  }
  return { postgres, mysql, mssql };
}
