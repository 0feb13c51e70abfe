import { assertEquals } from "../../support/assert.ts";
import { windowsDomain } from "../../../gateway/tools/ps_execute.ts";

const account = (
  username: string,
  address: string,
  properties: Record<string, string> = {},
): {
  username: string;
  address: string;
  properties: Record<string, string>;
} => ({
  username,
  address,
  properties,
});

Deno.test("windowsDomain() prefers the account's LogonDomain property", () => {
  assertEquals(
    windowsDomain(
      account("svc_admin", "win01.corp.example.com", { LogonDomain: "CORP" }),
      "win01.corp.example.com",
    ),
    "CORP",
  );
  assertEquals(
    windowsDomain(
      account("svc_admin", "10.0.0.5", { logondomain: " CORP " }),
      "10.0.0.5",
    ),
    "CORP",
  );
});

Deno.test("windowsDomain() leaves DOMAIN\\user and user@domain to the executor", () => {
  assertEquals(
    windowsDomain(
      account("CORP\\svc", "corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(
      account("svc@corp.example.com", "corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
});

Deno.test("windowsDomain() takes a domain Address the host belongs to, and nothing for a local account", () => {
  assertEquals(
    windowsDomain(account("svc", "corp.example.com"), "win01.corp.example.com"),
    "corp.example.com",
  );
  // The Address is the host itself: a local account.
  assertEquals(
    windowsDomain(
      account("svc", "win01.corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(account("svc", "10.0.0.5"), "10.0.0.5"),
    undefined,
  );
  assertEquals(
    windowsDomain(
      account("svc", "other.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(account("svc", "localhost"), "localhost"),
    undefined,
  );
});
