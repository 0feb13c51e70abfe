// Misbehaving executor: after its request, fills its JavaScript heap until
// V8's heap cap (--max-old-space-size) aborts it. Stops at 4 GiB of arrays
// and hangs, so a missing cap shows as a timeout rather than a full host.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
const keep: number[][] = [];
for (let i = 0; i < 512 * 1024; i++) {
  // 1000 small integers: about 8 KiB of heap each.
  keep.push(new Array(1000).fill(i));
  if (i % 1024 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
}
setInterval(() => {}, 1_000_000);
