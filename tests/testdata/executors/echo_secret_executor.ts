// Misbehaving executor: echoes its secret to stderr (raw, JSON-escaped and
// base64) and in its result.
import {
  PROTOCOL_VERSION,
  readRequest,
  writeResponse,
} from "../../../executors/protocol/mod.ts";

const request = await readRequest();
const { secret } = request.credential;
const encoder = new TextEncoder();
const base64 = btoa(String.fromCharCode(...encoder.encode(secret)));
await Deno.stderr.write(
  encoder.encode(
    `raw=${secret}\njson=${JSON.stringify({ secret })}\nbase64=${base64}\n`,
  ),
);
await writeResponse({
  protocol: PROTOCOL_VERSION,
  ok: true,
  result: {
    kind: "probe",
    action: "noop",
    outcome: "allowed",
    errorName: null,
    detail: `the password is ${secret} (base64 ${base64})`,
  },
});
