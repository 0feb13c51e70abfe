/**
 * Probe executor child: tries one action inside the executor sandbox and
 * reports whether the sandbox allowed it. Used by the sandbox tests and the
 * doctor self-test, through the same spawner as every other executor.
 *
 * It never sends, prints or returns the credential it receives; details hold
 * only error messages, byte counts and statuses.
 *
 * @module
 */
import type {
  ProbeAction,
  ProbeOperation,
  ProbeResult,
  Target,
} from "../protocol/mod.ts";
import { isSandboxDenial, serveOneRequest, success } from "./_kit.ts";

const MAX_DETAIL = 300;

/** Tries the probe action against its target and returns what happened. */
export async function probe(
  target: Target,
  operation: ProbeOperation,
): Promise<ProbeResult> {
  const { action } = operation;
  try {
    const detail = await attempt(target, operation);
    return {
      kind: "probe",
      action,
      outcome: "allowed",
      errorName: null,
      detail,
    };
  } catch (error) {
    const denied = isSandboxDenial(error);
    const name = error instanceof Error ? error.name : typeof error;
    const message = error instanceof Error ? error.message : String(error);
    return {
      kind: "probe",
      action,
      outcome: denied ? "denied" : "failed",
      errorName: name,
      detail: message.slice(0, MAX_DETAIL),
    };
  }
}

async function attempt(
  target: Target,
  operation: ProbeOperation,
): Promise<string> {
  const action: ProbeAction = operation.action;
  switch (action) {
    case "noop":
      return "nothing tried";
    case "sleep": {
      const ms = operation.ms ?? 0;
      await new Promise((resolve) => setTimeout(resolve, ms));
      return `slept ${ms} ms`;
    }
    case "connect_target":
      return await connect(target.host, target.port);
    case "connect_other": {
      const other = required(operation.other, "other", action);
      return await connect(other.host, other.port);
    }
    case "read_file": {
      const bytes = await Deno.readFile(
        required(operation.path, "path", action),
      );
      return `read ${bytes.length} bytes`;
    }
    case "read_env": {
      // Names and values stay here: only the count leaves the child.
      const count = Object.keys(Deno.env.toObject()).length;
      return `read ${count} variables`;
    }
    case "spawn_process": {
      // An absolute path: with a cleared environment there is no PATH.
      const output = await new Deno.Command("/bin/sh", {
        args: ["-c", "true"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      return `spawned a process that exited with ${output.code}`;
    }
    case "write_file": {
      await Deno.writeTextFile(
        required(operation.path, "path", action),
        "probe\n",
      );
      return "wrote the file";
    }
    case "import_npm": {
      // Built at run time so no static analysis (deno install, deno check)
      // ever resolves or caches it: the package is not in deno.lock.
      const specifier = ["npm:left-pad", "1.3.0"].join("@");
      await import(specifier);
      return `imported ${specifier}`;
    }
    case "fetch_url": {
      const response = await fetch(required(operation.url, "url", action));
      await response.body?.cancel();
      return `HTTP ${response.status}`;
    }
    case "listen": {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const { port } = listener.addr;
      listener.close();
      return `listened on port ${port}`;
    }
    case "resolve_dns": {
      // An explicit loopback name server: the system one may be anywhere.
      const records = await Deno.resolveDns("localhost", "A", {
        nameServer: { ipAddr: "127.0.0.1", port: 53 },
      });
      return `resolved ${records.length} records`;
    }
  }
}

async function connect(hostname: string, port: number): Promise<string> {
  const connection = await Deno.connect({ hostname, port });
  connection.close();
  return `connected to ${hostname}:${port}`;
}

function required<T>(value: T | undefined, field: string, action: string): T {
  if (value === undefined) {
    throw new TypeError(`The probe action ${action} needs the field ${field}`);
  }
  return value;
}

if (import.meta.main) {
  await serveOneRequest(
    "probe",
    "probe",
    async (request, operation) =>
      success(await probe(request.target, operation)),
  );
}
