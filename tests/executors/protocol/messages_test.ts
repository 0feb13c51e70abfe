import {
  OperationSchema,
  PROTOCOL_VERSION,
} from "../../../executors/protocol/messages.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const DATABASE_OPERATIONS = [
  { kind: "postgres", tls: { sslmode: "disable" } },
  { kind: "mysql", tls: { mode: "disabled" } },
  { kind: "mssql", tls: { encrypt: false, trustServerCertificate: false } },
] as const;

const COMMON = {
  database: "appdb",
  query: "SELECT 1",
  maxRows: 10,
  maxCellChars: 100,
};

Deno.test("PROTOCOL_VERSION is version 4 (database operations carry readOnly)", () => {
  assertEquals(PROTOCOL_VERSION, "mcp-privileged.executor/4");
});

Deno.test("OperationSchema requires readOnly on every database operation", () => {
  for (const engine of DATABASE_OPERATIONS) {
    const missing = OperationSchema.safeParse({ ...engine, ...COMMON });
    assert(!missing.success, `${engine.kind} accepted no readOnly`);
    assertEquals(missing.error.issues[0]?.path, ["readOnly"]);
    const text = OperationSchema.safeParse({
      ...engine,
      ...COMMON,
      readOnly: "true",
    });
    assert(!text.success, `${engine.kind} accepted readOnly as text`);
    for (const readOnly of [true, false]) {
      const parsed = OperationSchema.parse({ ...engine, ...COMMON, readOnly });
      assert("readOnly" in parsed && parsed.readOnly === readOnly);
    }
  }
});
