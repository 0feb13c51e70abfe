// Misbehaving executor: writes to stdout without end.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
while (true) {
  let written = 0;
  while (written < chunk.length) {
    written += await Deno.stdout.write(chunk.subarray(written));
  }
}
