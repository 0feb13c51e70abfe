/**
 * The CCP client never lets bad characters out as a `URIError`: a query
 * with a lone UTF-16 surrogate is a `CcpQueryError` (a `TypeError` naming
 * the caller's argument) before any request, from `validateCcpQuery()`,
 * `retrieve()` and `requestUrl()` alike.
 */
import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../support/assert.ts";
import { startCcpEmulator } from "../../emulator/ccp_emulator.ts";
import { CcpClient, validateCcpQuery } from "../../vault/ccp_client.ts";

const APP = "MCP-Privileged-Service";

const QUERIES = [
  { argument: "safe", query: { safe: "LINUX\ud800", object: "root" } },
  { argument: "object_name", query: { safe: "LINUX", object: "\udc00" } },
  {
    argument: "folder",
    query: { safe: "LINUX", object: "root", folder: "Ro\ud800ot" },
  },
  {
    argument: "reason",
    query: { safe: "LINUX", object: "root", reason: "why \ud83d" },
  },
] as const;

function expectedMessage(argument: string): string {
  return `Invalid ${argument}: it contains a lone UTF-16 surrogate (not valid Unicode); send it as well-formed Unicode text`;
}

Deno.test("ccpClient.retrieve() refuses a lone surrogate in any field with a TypeError naming the argument, asking the CCP nothing", async () => {
  const emulator = await startCcpEmulator({
    data: {
      applications: [{ appId: APP, safes: ["LINUX"] }],
      accounts: [{ Content: "ccp-Pa55", Safe: "LINUX", Name: "root" }],
    },
  });
  const ccp = new CcpClient({
    url: new URL(emulator.url),
    appId: APP,
    verifyTls: true,
    timeoutMs: 5_000,
  });
  try {
    for (const { argument, query } of QUERIES) {
      const error = await assertRejects(
        () => ccp.retrieve(query),
        TypeError,
        expectedMessage(argument),
      );
      assertEquals(error.name, "CcpQueryError");
      assertEquals(
        (error as TypeError & { argument?: string }).argument,
        argument,
      );
      assertThrows(
        () => validateCcpQuery(query),
        TypeError,
        expectedMessage(argument),
      );
    }
    assertEquals(emulator.requests, 0);
    // The client works: the refusals above were not a dead CCP.
    const account = await ccp.retrieve({ safe: "LINUX", object: "root" });
    assertEquals(account.name, "root");
  } finally {
    ccp.close();
    await emulator.close();
  }
});

Deno.test("ccpClient.requestUrl() turns the URIError of a lone surrogate into a TypeError naming the argument", () => {
  const ccp = new CcpClient({
    url: new URL("https://ccp.example.internal/AIMWebService/api/Accounts"),
    appId: APP,
    verifyTls: true,
    timeoutMs: 5_000,
  });
  try {
    for (const { argument, query } of QUERIES) {
      const error = assertThrows(
        () => ccp.requestUrl(query),
        TypeError,
        expectedMessage(argument),
      );
      assertEquals(
        (error as TypeError & { argument?: string }).argument,
        argument,
      );
      assertEquals(error.cause instanceof URIError, true);
    }
  } finally {
    ccp.close();
  }
});
