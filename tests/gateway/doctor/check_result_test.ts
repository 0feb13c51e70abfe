import { assertEquals } from "../../support/assert.ts";
import {
  type CheckResult,
  doctorExitCode,
  formatCheck,
} from "../../../gateway/doctor/mod.ts";

Deno.test("formatCheck() prints STATUS check: detail; fix, and PASS without a fix", () => {
  assertEquals(
    formatCheck({ status: "PASS", check: "a", detail: "fine" }),
    "PASS a: fine",
  );
  assertEquals(
    formatCheck({ status: "FAIL", check: "b", detail: "bad", fix: "repair" }),
    "FAIL b: bad; repair",
  );
});

Deno.test("doctorExitCode() is 1 on any FAIL and 0 with only PASS and WARN", () => {
  const ok: CheckResult = { status: "PASS", check: "a", detail: "" };
  const meh: CheckResult = { status: "WARN", check: "b", detail: "", fix: "" };
  const bad: CheckResult = { status: "FAIL", check: "c", detail: "", fix: "" };
  assertEquals(doctorExitCode([ok, meh]), 0);
  assertEquals(doctorExitCode([ok, meh, bad]), 1);
});
