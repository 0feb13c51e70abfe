import assert from "node:assert/strict";
import {
  decodeEncryptedBody,
  encodeEncryptedBody,
  ENCRYPTED_CONTENT_TYPE,
  isEncryptedContentType,
  sealBody,
  SOAP_CONTENT_TYPE,
  unsealBody,
} from "../../../../executors/children/winrm/encrypted_body.ts";
import { NtlmError } from "../../../../executors/children/winrm/ntlm_crypto.ts";
import { WINRM_NEGOTIATE_FLAGS } from "../../../../executors/children/winrm/ntlm.ts";
import { ntlmSessions } from "../_winrm.ts";

const DERIVED = new URL(
  "../../../testdata/winrm/derived/",
  import.meta.url,
);
const EXAMPLE = await Deno.readFile(
  new URL("ntlm-encrypted-body-example.bin", DERIVED),
);
const EXAMPLE_HEADERS = await Deno.readTextFile(
  new URL("ntlm-encrypted-body-example.headers.txt", DERIVED),
);

function unhex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

// MS-NLMP 4.2.4 client seq-0 values, the content of the derived example.
const SIGNATURE = unhex("010000007fb38ec5c55d497600000000");
const SEALED = unhex("54e50165bf1936dc996020c1811b0f06fb5f");
const PLAINTEXT = unhex("50006c00610069006e007400650078007400");
const SESSION_KEY = new Uint8Array(16).fill(0x55);

function headers(): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of EXAMPLE_HEADERS.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      map.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  return map;
}

Deno.test("encodeEncryptedBody() reproduces the derived example body and its headers", () => {
  const body = encodeEncryptedBody({ signature: SIGNATURE, sealed: SEALED });
  assert.deepEqual(body, EXAMPLE);
  assert.equal(String(body.length), headers().get("content-length"));
  assert.equal(ENCRYPTED_CONTENT_TYPE, headers().get("content-type"));
  assert.ok(isEncryptedContentType(headers().get("content-type") ?? null));
});

Deno.test("decodeEncryptedBody() splits the derived example into signature, sealed data and OriginalContent", () => {
  const decoded = decodeEncryptedBody(EXAMPLE);
  assert.equal(hex(decoded.signature), hex(SIGNATURE));
  assert.equal(hex(decoded.sealed), hex(SEALED));
  assert.equal(decoded.originalType, SOAP_CONTENT_TYPE);
  assert.equal(decoded.originalLength, 18);
});

Deno.test("sealBody() with the 4.2.4 client session yields the example, and unsealBody() on the server side recovers it", () => {
  const { client, server } = ntlmSessions({
    exportedSessionKey: SESSION_KEY,
    flags: WINRM_NEGOTIATE_FLAGS,
  });
  assert.deepEqual(sealBody(client, PLAINTEXT), EXAMPLE);
  assert.deepEqual(unsealBody(server, EXAMPLE), PLAINTEXT);
  assert.throws(
    () => unsealBody(server, EXAMPLE),
    /sequence number 0, expected 1/,
  );
});

Deno.test("sealBody() and unsealBody() carry SOAP both ways over several messages", () => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const { client, server } = ntlmSessions({
    exportedSessionKey: key,
    flags: WINRM_NEGOTIATE_FLAGS,
  });
  const encoder = new TextEncoder();
  for (let i = 0; i < 4; i++) {
    const request = encoder.encode(
      `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">${i}é</s:Envelope>`,
    );
    assert.deepEqual(unsealBody(server, sealBody(client, request)), request);
    const reply = encoder.encode(
      `<s:Envelope>reply ${i}</s:Envelope>`.repeat(i + 1),
    );
    assert.deepEqual(unsealBody(client, sealBody(server, reply)), reply);
  }
});

Deno.test("decodeEncryptedBody() keeps sealed bytes that happen to contain the boundary", () => {
  const sealed = latin1(
    "ab--Encrypted Boundary--\r\n--Encrypted Boundary\r\ncd",
  );
  const decoded = decodeEncryptedBody(
    encodeEncryptedBody({ signature: SIGNATURE, sealed }),
  );
  assert.deepEqual(decoded.sealed, sealed);
});

Deno.test("decodeEncryptedBody() accepts Exchange's '-- Encrypted Boundary' spelling", () => {
  const text = String.fromCharCode(...EXAMPLE).replaceAll(
    "--Encrypted Boundary",
    "-- Encrypted Boundary",
  );
  const decoded = decodeEncryptedBody(latin1(text));
  assert.deepEqual(decoded.sealed, SEALED);
});

Deno.test("decodeEncryptedBody() rejects broken framing with an NtlmError", () => {
  const text = String.fromCharCode(...EXAMPLE);
  const cases: Array<[string, RegExp]> = [
    [text.replace("Length=18", "Length=17"), /Length=17/],
    [text.replace("--Encrypted Boundary--\r\n", ""), /closing boundary/],
    [text.replace("application/octet-stream", "text/plain"), /octet-stream/],
    [
      text.replace("application/HTTP-SPNEGO-session-encrypted", "text/plain"),
      /HTTP-SPNEGO/,
    ],
    [
      text.replace(
        "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=18\r\n",
        "",
      ),
      /OriginalContent/,
    ],
    [
      text.replace("\x10\x00\x00\x00", "\x0f\x00\x00\x00"),
      /signature length 15/,
    ],
    ["not multipart at all", /header line/],
  ];
  for (const [body, pattern] of cases) {
    assert.throws(() => decodeEncryptedBody(latin1(body)), (error: unknown) => {
      assert.ok(error instanceof NtlmError);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("encodeEncryptedBody() refuses a signature that is not 16 bytes", () => {
  assert.throws(
    () => encodeEncryptedBody({ signature: new Uint8Array(8), sealed: SEALED }),
    RangeError,
  );
});

Deno.test("isEncryptedContentType() recognises WinRM's header and nothing else", () => {
  assert.ok(isEncryptedContentType(ENCRYPTED_CONTENT_TYPE));
  assert.ok(
    isEncryptedContentType(
      'multipart/encrypted; protocol="application/HTTP-SPNEGO-session-encrypted"; boundary="Encrypted Boundary"',
    ),
  );
  assert.ok(!isEncryptedContentType("application/soap+xml;charset=UTF-8"));
  assert.ok(
    !isEncryptedContentType(
      'multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted"',
    ),
  );
  assert.ok(!isEncryptedContentType(null));
});
