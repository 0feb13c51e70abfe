/**
 * CLI for the CCP emulator.
 *
 * ```sh
 * deno run --allow-net --allow-read emulator/main.ts [--data FILE] [--host H] [--port N] \
 *   [--tls-cert F --tls-key F [--client-ca F]] [--web-service-name NAME]
 * ```
 *
 * Prints one JSON line, `{"url":"...","port":N}`, once listening, then runs
 * until SIGINT or SIGTERM. Bad flags print one line to stderr and exit 2;
 * unreadable or invalid files exit 1.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type CcpEmulatorOptions,
  loadEmulatorData,
  startCcpEmulator,
} from "./ccp_emulator.ts";

const USAGE =
  "usage: emulator/main.ts [--data FILE] [--host H] [--port N] [--tls-cert F --tls-key F [--client-ca F]] [--web-service-name NAME]";

/** Thrown for a bad command line; main() turns it into exit code 2. */
class UsageError extends Error {
  override name = "UsageError";
}

interface CliOptions {
  dataPath: string;
  hostname: string;
  port: number;
  tlsCertPath: string | undefined;
  tlsKeyPath: string | undefined;
  clientCaPath: string | undefined;
  webServiceName: string | undefined;
}

function parseCli(args: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "data": { type: "string" },
        "host": { type: "string" },
        "port": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "client-ca": { type: "string" },
        "web-service-name": { type: "string" },
      },
    }));
  } catch (error) {
    // node's messages name the flag, e.g. "Unknown option '--prot'".
    const message = error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    throw new UsageError(`${message}; ${USAGE}`);
  }

  let port = 0;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
      throw new UsageError(
        `Invalid --port "${values.port}"; use an integer from 0 to 65535 (0 picks a free port)`,
      );
    }
    port = Number(values.port);
  }
  if (
    (values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)
  ) {
    throw new UsageError(
      "--tls-cert and --tls-key must be given together; pass both PEM files or neither",
    );
  }
  if (values["client-ca"] !== undefined && values["tls-cert"] === undefined) {
    throw new UsageError(
      "--client-ca needs HTTPS; add --tls-cert and --tls-key",
    );
  }
  for (
    const flag of [
      "data",
      "host",
      "tls-cert",
      "tls-key",
      "client-ca",
      "web-service-name",
    ] as const
  ) {
    if (values[flag] === "") {
      throw new UsageError(`Empty --${flag}; give it a value`);
    }
  }

  return {
    dataPath: values.data ??
      fileURLToPath(new URL("./demo_accounts.json", import.meta.url)),
    hostname: values.host ?? "127.0.0.1",
    port,
    tlsCertPath: values["tls-cert"],
    tlsKeyPath: values["tls-key"],
    clientCaPath: values["client-ca"],
    webServiceName: values["web-service-name"],
  };
}

async function readPem(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Cannot read ${flag} file "${path}": ${reason}; check the path`,
      { cause: error },
    );
  }
}

async function main(): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseCli(Deno.args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // deno-lint-ignore no-console
    console.error(error.message);
    return 2;
  }

  try {
    const options: CcpEmulatorOptions = {
      data: await loadEmulatorData(cli.dataPath),
      hostname: cli.hostname,
      port: cli.port,
    };
    if (cli.tlsCertPath !== undefined && cli.tlsKeyPath !== undefined) {
      options.tls = {
        certPem: await readPem(cli.tlsCertPath, "--tls-cert"),
        keyPem: await readPem(cli.tlsKeyPath, "--tls-key"),
      };
      if (cli.clientCaPath !== undefined) {
        options.tls.clientCaPem = await readPem(
          cli.clientCaPath,
          "--client-ca",
        );
      }
    }
    if (cli.webServiceName !== undefined) {
      options.webServiceName = cli.webServiceName;
    }

    const emulator = await startCcpEmulator(options);
    // deno-lint-ignore no-console
    console.log(JSON.stringify({ url: emulator.url, port: emulator.port }));

    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
    });
    await emulator.close();
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // deno-lint-ignore no-console
    console.error(message);
    return error instanceof RangeError ? 2 : 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
