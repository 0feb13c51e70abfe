import { assertEquals, assertThrows } from "../../support/assert.ts";
import {
  formatCheckpoint,
  parseCheckpoint,
} from "../../../gateway/audit_chain/mod.ts";

const SEGMENT = "0123456789abcdef0123456789abcdef";
const MAC = "ab".repeat(32);

Deno.test("a checkpoint value reads back as it prints", () => {
  const value = `gw-1.pod_2:${SEGMENT}:42:${MAC}`;
  const checkpoint = parseCheckpoint(value);
  assertEquals(checkpoint, {
    chain: "gw-1.pod_2",
    segment: SEGMENT,
    seq: 42,
    mac: MAC,
  });
  assertEquals(formatCheckpoint(checkpoint), value);
});

Deno.test("a malformed checkpoint value names the part that is wrong", () => {
  for (
    const [value, part] of [
      [`gw-1:${SEGMENT}:42`, "is not CHAIN:SEGMENT:SEQ:MAC"],
      [`-gw:${SEGMENT}:42:${MAC}`, "chain"],
      [`gw-1:${SEGMENT.toUpperCase()}:42:${MAC}`, "segment"],
      [`gw-1:${SEGMENT}:-1:${MAC}`, "seq"],
      [`gw-1:${SEGMENT}:4.2:${MAC}`, "seq"],
      [`gw-1:${SEGMENT}:42:${MAC.slice(2)}`, "mac"],
    ]
  ) {
    assertThrows(() => parseCheckpoint(value!), TypeError, part!);
  }
});
