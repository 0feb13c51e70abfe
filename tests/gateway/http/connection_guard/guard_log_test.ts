import { getLogger } from "@logtape/logtape";
import { assertEquals } from "../../../support/assert.ts";
import { captureLogLines } from "../../../support/log_lines.ts";
import { GuardLog } from "../../../../gateway/http/connection_guard/mod.ts";

const LIMITS = {
  maxConnections: 20,
  headerTimeoutSeconds: 10,
  bodyTimeoutSeconds: 30,
  idleTimeoutSeconds: 60,
};

function guardLog(): GuardLog {
  return new GuardLog(getLogger(["gateway", "http"]), LIMITS, 1000);
}

Deno.test("GuardLog: the first refusal of a burst is a warning naming HTTP_MAX_CONNECTIONS; the rest are counted into one summary", async () => {
  let log: GuardLog | undefined;
  const lines = await captureLogLines(() => {
    log = guardLog();
    log.refused("192.0.2.1", 20, 20, 0);
    for (let i = 1; i <= 5; i++) log.refused("192.0.2.2", 20, 20, i * 10);
    log.flush(500); // the window is not over yet
    log.flush(1100);
    log.refused("192.0.2.3", 18, 18, 2500); // a new burst
    return Promise.resolve();
  });
  assertEquals(lines.map((l) => l.event), [
    "connection_refused",
    "connection_guard_summary",
    "connection_refused",
  ]);
  const [first, summary] = lines;
  assertEquals(first!.level, "warning");
  assertEquals(first!.client_ip, "192.0.2.1");
  assertEquals(first!.limit, 20);
  assertEquals(first!.setting, "HTTP_MAX_CONNECTIONS");
  assertEquals(summary!.refused, 5);
  assertEquals(summary!.header_timeout, 0);
  assertEquals(log!.counts.refused, 7);
});

Deno.test("GuardLog: header and body timeouts warn once per window each, idle closes are not warnings", async () => {
  let log: GuardLog | undefined;
  const lines = await captureLogLines(() => {
    log = guardLog();
    log.closed("header_timeout", "192.0.2.1", 0);
    log.closed("header_timeout", "192.0.2.1", 1);
    log.closed("body_timeout", "192.0.2.4", 2);
    log.closed("idle_timeout", "192.0.2.5", 3);
    log.closed("shutdown", "192.0.2.6", 4);
    log.flush(0, true);
    return Promise.resolve();
  });
  assertEquals(
    lines.map((l) => [l.event, l.reason ?? null, l.level]),
    [
      ["connection_closed", "header_timeout", "warning"],
      ["connection_closed", "body_timeout", "warning"],
      ["connection_guard_summary", null, "warning"],
    ],
  );
  assertEquals(lines[0]!.setting, "HTTP_HEADER_TIMEOUT_SECONDS");
  assertEquals(lines[0]!.timeout_seconds, 10);
  assertEquals(lines[1]!.setting, "HTTP_BODY_TIMEOUT_SECONDS");
  assertEquals(lines[2]!.header_timeout, 1);
  assertEquals(log!.counts, {
    refused: 0,
    headerTimeouts: 2,
    bodyTimeouts: 1,
    idleTimeouts: 1,
  });
});
