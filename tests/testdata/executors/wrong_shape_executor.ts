// Misbehaving executor: answers with JSON of another protocol version.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
const response = { protocol: "mcp-privileged.executor/0", ok: true, result: {} };
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(response)));
