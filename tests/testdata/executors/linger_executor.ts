// Lingering executor: answers correctly, then keeps running (a driver that
// holds a socket open, say) instead of exiting.
import {
  PROTOCOL_VERSION,
  readRequest,
  writeResponse,
} from "../../../executors/protocol/mod.ts";

await readRequest();
await writeResponse({
  protocol: PROTOCOL_VERSION,
  ok: true,
  result: {
    kind: "probe",
    action: "noop",
    outcome: "allowed",
    errorName: null,
    detail: "answered",
  },
});
await new Promise((resolve) => setTimeout(resolve, 60_000));
