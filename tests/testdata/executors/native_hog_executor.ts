// Misbehaving executor: after its request, allocates memory outside the V8
// heap (ArrayBuffer backing stores, as a driver's Buffers are), 8 MiB at a
// time, touching every page so it is resident. The heap cap does not see
// it; only the parent's watchdog does. Stops at 2 GiB and hangs, so a
// missing watchdog shows as a timeout rather than a full host.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
const keep: Uint8Array[] = [];
for (let i = 0; i < 256; i++) {
  keep.push(new Uint8Array(8 * 1024 * 1024).fill(1));
  await new Promise((resolve) => setTimeout(resolve, 5));
}
setInterval(() => {}, 1_000_000);
