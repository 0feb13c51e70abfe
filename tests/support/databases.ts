/**
 * Real databases for the db_query tests.
 *
 * - The machine's PostgreSQL (127.0.0.1:5432, trusts local connections) and
 *   MariaDB (127.0.0.1:3306, root without password): each fixture creates a
 *   throwaway login with a random password and a database with a small
 *   schema, and drops both after.
 * - Servers of the tests' own, for what the shared ones cannot show: a
 *   PostgreSQL cluster (`initdb --auth-host=scram-sha-256`, run as the
 *   `postgres` user because initdb refuses root) that checks passwords and
 *   speaks TLS, and a MariaDB instance with TLS. Both listen on a free port
 *   and are removed on `stop()`.
 *
 * When a shared server is unreachable the tests skip loudly, or fail when
 * `CI` is set (see {@linkcode announceDbSkip}).
 *
 * @module
 */
import mysql from "mysql2/promise";
import pg from "pg";
import { eventually } from "./eventually.ts";
import { freePort } from "./free_port.ts";
import { announceSkip, fileExists } from "./skip.ts";

/** Where the shared servers listen. */
export const SHARED = {
  host: "127.0.0.1",
  postgresPort: 5432,
  mariadbPort: 3306,
} as const;

/** Rows in the fixture table `numbers`: more than any row cap the tests use. */
export const NUMBER_ROWS = 1500;

/** Rows of the fixture table `people`, as the tests expect them back. */
export const PEOPLE = {
  unicodeName: "Zoë 東京 🎉",
  born: "1990-05-17",
  seen: "2024-02-29T13:45:56.789",
  photoHex: "0x00ff10",
  longNoteChars: 5000,
} as const;

/** A login and database created on a shared server. */
export interface DbFixture {
  readonly engine: "postgres" | "mysql";
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  /** Runs SQL as the administrator inside the fixture database. */
  admin(sql: string): Promise<unknown[][]>;
  /** Drops the database and the login. */
  drop(): Promise<void>;
}

/** A server of the tests' own. */
export interface PrivateDbServer {
  readonly host: string;
  readonly port: number;
  /** A login with a password that the server checks. */
  readonly username: string;
  readonly password: string;
  /** A database the login may open. */
  readonly database: string;
  /** The server log, for diagnosing a failed test. */
  readonly logPath: string;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/** TLS material for a private server (PEM). */
export interface ServerTls {
  cert: string;
  key: string;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** A strong password that needs no quoting in SQL or shell. */
export function randomPassword(): string {
  const raw = crypto.getRandomValues(new Uint8Array(24));
  return "Mcp-" + btoa(String.fromCharCode(...raw)).replaceAll("/", "_")
    .replaceAll("+", "-").replaceAll("=", "");
}

const skipReasons = new Map<string, Promise<string | null>>();

function cachedReason(
  key: string,
  probe: () => Promise<void>,
  what: string,
): Promise<string | null> {
  let reason = skipReasons.get(key);
  if (reason === undefined) {
    reason = probe().then(() => null, (error) => {
      const message = `${what} tests skipped: ${
        error instanceof Error ? error.message : String(error)
      }`;
      if (Deno.env.get("CI")) {
        throw new Error(`${message}; CI must provide this server`);
      }
      return message;
    });
    skipReasons.set(key, reason);
  }
  return reason;
}

/** Why the PostgreSQL tests cannot run here, or null. Throws under `CI`. */
export function postgresSkipReason(): Promise<string | null> {
  return cachedReason("postgres", async () => {
    const client = new pg.Client({
      host: SHARED.host,
      port: SHARED.postgresPort,
      user: "postgres",
      database: "postgres",
      connectionTimeoutMillis: 3000,
    });
    try {
      await client.connect();
      await client.query("SELECT 1");
    } catch (error) {
      throw new Error(
        `PostgreSQL is not reachable as postgres at ${SHARED.host}:${SHARED.postgresPort} (${
          (error as Error).message
        }); start it (pg_ctlcluster 15 main start)`,
      );
    } finally {
      await client.end().catch(() => {});
    }
    const bin = await postgresBin();
    if (bin === null) {
      throw new Error("no initdb under /usr/lib/postgresql/*/bin");
    }
  }, "PostgreSQL");
}

/** Why the MariaDB tests cannot run here, or null. Throws under `CI`. */
export function mariadbSkipReason(): Promise<string | null> {
  return cachedReason("mariadb", async () => {
    try {
      const connection = await mysql.createConnection({
        host: SHARED.host,
        port: SHARED.mariadbPort,
        user: "root",
        connectTimeout: 3000,
      });
      await connection.query("SELECT 1");
      await connection.end();
    } catch (error) {
      throw new Error(
        `MariaDB is not reachable as root at ${SHARED.host}:${SHARED.mariadbPort} (${
          (error as Error).message
        }); start it`,
      );
    }
    for (const tool of ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"]) {
      if (!(await fileExists(tool))) throw new Error(`${tool} is missing`);
    }
  }, "MariaDB");
}

/**
 * Prints a skip reason to stderr so a skipped suite is never silent, and
 * returns it for `Deno.test({ ignore })`.
 */
export function announceDbSkip(
  reason: Promise<string | null>,
): Promise<string | null> {
  return announceSkip(reason);
}

function peopleInsert(engine: "postgres" | "mysql"): string {
  const bytes = engine === "postgres" ? "'\\x00ff10'::bytea" : "x'00ff10'";
  return `INSERT INTO people (id, name, born, seen, photo, note) VALUES
    (1, '${PEOPLE.unicodeName}', '${PEOPLE.born}', '${
    PEOPLE.seen.replace("T", " ")
  }', ${bytes}, 'first'),
    (2, NULL, NULL, NULL, NULL, NULL),
    (3, 'long', NULL, NULL, NULL, '${"x".repeat(PEOPLE.longNoteChars)}')`;
}

function numbersInsert(): string {
  const values = Array.from({ length: NUMBER_ROWS }, (_, i) => `(${i + 1})`);
  return `INSERT INTO numbers (n) VALUES ${values.join(",")}`;
}

/**
 * The fixture tables and their rows, the same on both engines but for the
 * column types of `people`; `notes` holds the login's own password.
 */
function fixtureTables(
  engine: "postgres" | "mysql",
  password: string,
): string {
  const people = engine === "postgres"
    ? `name text, born date, seen timestamp(3), photo bytea`
    : `name varchar(100), born date, seen datetime(3), photo varbinary(16)`;
  return `
    CREATE TABLE people (id int PRIMARY KEY, ${people}, note text);
    CREATE TABLE numbers (n int NOT NULL);
    CREATE TABLE counters (id int PRIMARY KEY, hits int NOT NULL);
    CREATE TABLE notes (note text);
    CREATE TABLE hidden (secret text);
    ${peopleInsert(engine)};
    ${numbersInsert()};
    INSERT INTO counters VALUES (1, 0), (2, 0), (3, 0);
    INSERT INTO notes VALUES ('db password is ${password}');
  `;
}

/**
 * Creates a login with a random password and a database on the shared
 * PostgreSQL, with tables `people` (NULLs, dates, bytea, unicode, a long
 * cell), `numbers` ({@linkcode NUMBER_ROWS} rows), `counters` (writable),
 * `notes` (holds the login's own password) and `hidden` (no grant).
 */
export async function createPostgresFixture(): Promise<DbFixture> {
  const name = `mcp_t_${randomHex(5)}`;
  const password = randomPassword();
  const connect = async (database: string): Promise<pg.Client> => {
    const client = new pg.Client({
      host: SHARED.host,
      port: SHARED.postgresPort,
      user: "postgres",
      database,
    });
    await client.connect();
    return client;
  };
  const root = await connect("postgres");
  try {
    await root.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
    await root.query(`CREATE DATABASE ${name}`);
  } finally {
    await root.end();
  }
  const admin = async (sql: string): Promise<unknown[][]> => {
    const client = await connect(name);
    try {
      const result = await client.query({ text: sql, rowMode: "array" });
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return (last?.rows ?? []) as unknown[][];
    } finally {
      await client.end();
    }
  };
  await admin(`
    REVOKE ALL ON DATABASE ${name} FROM PUBLIC;
    GRANT CONNECT, TEMPORARY ON DATABASE ${name} TO ${name};
    ${fixtureTables("postgres", password)}
    GRANT SELECT ON people, numbers, notes TO ${name};
    GRANT SELECT, INSERT, UPDATE, DELETE ON counters TO ${name};
  `);
  return {
    engine: "postgres",
    host: SHARED.host,
    port: SHARED.postgresPort,
    database: name,
    username: name,
    password,
    admin,
    drop: async () => {
      const client = await connect("postgres");
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.query(`DROP ROLE IF EXISTS ${name}`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Like {@linkcode createPostgresFixture}, on the shared MariaDB. */
export async function createMariadbFixture(): Promise<DbFixture> {
  const name = `mcp_t_${randomHex(5)}`;
  const password = randomPassword();
  const root = await mysql.createConnection({
    host: SHARED.host,
    port: SHARED.mariadbPort,
    user: "root",
    multipleStatements: true,
  });
  const admin = async (sql: string): Promise<unknown[][]> => {
    const [rows] = await root.query({
      sql: `USE ${name}; ${sql}`,
      rowsAsArray: true,
    });
    const list = rows as unknown[];
    const last = list[list.length - 1];
    return Array.isArray(last) ? last as unknown[][] : [];
  };
  await root.query(`
    CREATE DATABASE ${name} CHARACTER SET utf8mb4;
    CREATE USER '${name}'@'%' IDENTIFIED BY '${password}';
  `);
  await admin(`
    ${fixtureTables("mysql", password)}
    GRANT SELECT ON ${name}.people TO '${name}'@'%';
    GRANT SELECT ON ${name}.numbers TO '${name}'@'%';
    GRANT SELECT ON ${name}.notes TO '${name}'@'%';
    GRANT SELECT, INSERT, UPDATE, DELETE ON ${name}.counters TO '${name}'@'%';
  `);
  return {
    engine: "mysql",
    host: SHARED.host,
    port: SHARED.mariadbPort,
    database: name,
    username: name,
    password,
    admin,
    drop: async () => {
      try {
        await root.query(
          `DROP DATABASE IF EXISTS ${name}; DROP USER IF EXISTS '${name}'@'%'`,
        );
      } finally {
        await root.end();
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Servers of the tests' own
// ---------------------------------------------------------------------------

async function postgresBin(): Promise<string | null> {
  const versions: string[] = [];
  try {
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(entry.name);
    }
  } catch {
    return null;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = `/usr/lib/postgresql/${version}/bin`;
    if (await fileExists(`${bin}/initdb`)) return bin;
  }
  return null;
}

async function run(
  command: string,
  args: string[],
  what: string,
): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `Cannot ${what}: ${command} exited with ${out.code}: ${
        decoder.decode(out.stderr).trim() || decoder.decode(out.stdout).trim()
      }`,
    );
  }
  return decoder.decode(out.stdout);
}

/** Whether this machine has an IPv6 loopback to listen on. */
export function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/** A directory the given system user owns (created under /tmp). */
async function ownedTempDir(prefix: string, user: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await run("chown", [user, dir], `give ${dir} to ${user}`);
  return dir;
}

async function writeOwned(
  path: string,
  text: string,
  user: string,
): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await run("chown", [user, path], `give ${path} to ${user}`);
}

/**
 * Starts a PostgreSQL cluster of the tests' own on a free port of 127.0.0.1
 * (and ::1 when available) that checks passwords with SCRAM and offers TLS
 * with the given certificate (non-TLS connections are accepted too).
 */
export async function startPrivatePostgres(
  tls: ServerTls,
): Promise<PrivateDbServer> {
  const bin = await postgresBin();
  if (bin === null) throw new Error("no initdb under /usr/lib/postgresql");
  const dir = await ownedTempDir("mcp-pg-", "postgres");
  const data = `${dir}/data`;
  const password = randomPassword();
  await writeOwned(`${dir}/pwfile`, `${password}\n`, "postgres");
  await run("runuser", [
    "-u",
    "postgres",
    "--",
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    `--pwfile=${dir}/pwfile`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
  ], "initdb a test cluster");
  await writeOwned(`${data}/server.crt`, tls.cert, "postgres");
  await writeOwned(`${data}/server.key`, tls.key, "postgres");
  const port = freePort();
  const listen = hasIpv6Loopback() ? "127.0.0.1,::1" : "127.0.0.1";
  const logPath = `${dir}/postgres.log`;
  const pgCtl = (args: string[], what: string): Promise<string> =>
    run("runuser", [
      "-u",
      "postgres",
      "--",
      `${bin}/pg_ctl`,
      "-D",
      data,
      ...args,
    ], what);
  await pgCtl([
    "-l",
    logPath,
    "-w",
    "-t",
    "30",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=${listen} -c ssl=on -c fsync=off`,
    "start",
  ], "start the test cluster");
  return {
    host: "127.0.0.1",
    port,
    username: "postgres",
    password,
    database: "postgres",
    logPath,
    stop: async () => {
      await pgCtl(["-m", "immediate", "-w", "stop"], "stop the test cluster")
        .catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Starts a MariaDB instance of the tests' own with TLS on a free port of
 * 127.0.0.1 and 127.0.0.2 (a loopback address the test certificate does not
 * name), with a login `mcp` that has a random password.
 */
export async function startPrivateMariadb(
  tls: ServerTls & { ca: string },
): Promise<PrivateDbServer> {
  const dir = await ownedTempDir("mcp-my-", "mysql");
  const data = `${dir}/data`;
  await run("runuser", [
    "-u",
    "mysql",
    "--",
    "mariadb-install-db",
    "--no-defaults",
    `--datadir=${data}`,
    "--auth-root-authentication-method=normal",
    "--skip-test-db",
  ], "create a test MariaDB data directory");
  await writeOwned(`${dir}/server.crt`, tls.cert, "mysql");
  await writeOwned(`${dir}/server.key`, tls.key, "mysql");
  await writeOwned(`${dir}/ca.crt`, tls.ca, "mysql");
  const port = freePort();
  const socket = `${dir}/mysqld.sock`;
  const logPath = `${dir}/error.log`;
  const child = new Deno.Command("runuser", {
    args: [
      "-u",
      "mysql",
      "--",
      "/usr/sbin/mariadbd",
      "--no-defaults",
      `--datadir=${data}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1,127.0.0.2",
      `--socket=${socket}`,
      `--pid-file=${dir}/mariadbd.pid`,
      "--skip-name-resolve",
      `--ssl-cert=${dir}/server.crt`,
      `--ssl-key=${dir}/server.key`,
      `--ssl-ca=${dir}/ca.crt`,
      `--log-error=${logPath}`,
      "--innodb-buffer-pool-size=16M",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const password = randomPassword();
  try {
    await eventually(
      () =>
        run("mariadb", [
          "--no-defaults",
          "-uroot",
          `--socket=${socket}`,
          "-e",
          `CREATE USER 'mcp'@'%' IDENTIFIED BY '${password}'; CREATE DATABASE mcp; GRANT ALL ON mcp.* TO 'mcp'@'%'`,
        ], "create the test login"),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    host: "127.0.0.1",
    port,
    username: "mcp",
    password,
    database: "mcp",
    logPath,
    stop: async () => {
      // Signal mariadbd itself: runuser need not pass SIGTERM on.
      try {
        const pid = Number(
          (await Deno.readTextFile(`${dir}/mariadbd.pid`)).trim(),
        );
        Deno.kill(pid, "SIGTERM");
      } catch {
        child.kill("SIGKILL");
      }
      const stopped = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) child.kill("SIGKILL");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
