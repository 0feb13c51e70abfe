// Misbehaving executor for the warm tests: before it reads anything from
// stdin (while it waits as a warm child), allocates memory outside the V8
// heap, 8 MiB at a time, touching every page so it is resident. Only the
// parent's watchdog sees it. Stops at 2 GiB and hangs.
const keep: Uint8Array[] = [];
for (let i = 0; i < 256; i++) {
  keep.push(new Uint8Array(8 * 1024 * 1024).fill(1));
  await new Promise((resolve) => setTimeout(resolve, 5));
}
setInterval(() => {}, 1_000_000);
