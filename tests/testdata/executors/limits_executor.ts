// Test executor: answers with the limits it was given, so a test can see the
// kill-grace contract the parent sends.
import { serveOneRequest, success } from "../../../executors/children/_kit.ts";

await serveOneRequest("probe", "limits", (request) =>
  Promise.resolve(success({
    kind: "probe",
    action: "noop",
    outcome: "allowed",
    errorName: null,
    detail: JSON.stringify(request.limits),
  })));
