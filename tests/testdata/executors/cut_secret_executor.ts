// Executor whose output was cut inside the secret: returns an SSH result
// whose stdout ends with the first half of the password.
import {
  PROTOCOL_VERSION,
  readRequest,
  writeResponse,
} from "../../../executors/protocol/mod.ts";

const request = await readRequest();
const half = request.credential.secret.slice(0, request.credential.secret.length / 2);
await writeResponse({
  protocol: PROTOCOL_VERSION,
  ok: true,
  result: {
    kind: "ssh",
    exitCode: 0,
    signal: null,
    stdout: `config dump ... password=${half}`,
    stderr: "",
    stdoutTruncated: true,
    stderrTruncated: false,
    hostKeyFingerprint: "SHA256:test",
  },
});
