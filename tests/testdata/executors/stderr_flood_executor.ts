// Noisy executor: writes 1 MiB to stderr, then answers correctly.
import {
  PROTOCOL_VERSION,
  readRequest,
  writeResponse,
} from "../../../executors/protocol/mod.ts";

await readRequest();
const chunk = new TextEncoder().encode("e".repeat(64 * 1024));
for (let i = 0; i < 16; i++) {
  let written = 0;
  while (written < chunk.length) {
    written += await Deno.stderr.write(chunk.subarray(written));
  }
}
await writeResponse({
  protocol: PROTOCOL_VERSION,
  ok: true,
  result: {
    kind: "probe",
    action: "noop",
    outcome: "allowed",
    errorName: null,
    detail: "done",
  },
});
