import {
  createScrubber,
  MIN_SCRUB_LENGTH,
  REDACTED,
  scrubSecrets,
  secretForms,
} from "../../../executors/protocol/scrub.ts";
import { assert, assertEquals } from "../../support/assert.ts";

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

Deno.test("scrubSecrets() replaces every raw occurrence", () => {
  assertEquals(
    scrubSecrets("pw=hunter22; again hunter22.", ["hunter22"]),
    `pw=${REDACTED}; again ${REDACTED}.`,
  );
});

Deno.test("scrubSecrets() replaces the JSON-escaped form", () => {
  const secret = 'p"a\\ss\nword';
  const json = JSON.stringify({ password: secret });
  const scrubbed = scrubSecrets(json, [secret]);
  assertEquals(scrubbed, `{"password":"${REDACTED}"}`);
});

Deno.test("scrubSecrets() replaces the percent-encoded form", () => {
  const secret = "p@ss w/rd&1";
  const url = `postgres://app:${encodeURIComponent(secret)}@db01/app`;
  assertEquals(
    scrubSecrets(url, [secret]),
    `postgres://app:${REDACTED}@db01/app`,
  );
});

Deno.test("scrubSecrets() replaces base64 forms at every byte alignment", () => {
  const secret = "correct horse battery staple";
  for (const prefix of ["", "u:", "us:", "user:"]) {
    const encoded = base64(`${prefix}${secret}`);
    const scrubbed = scrubSecrets(`Authorization: Basic ${encoded}`, [secret]);
    assert(
      scrubbed.includes(REDACTED),
      `not scrubbed with prefix "${prefix}": ${scrubbed}`,
    );
    // What survives is at most the few characters that mix in other bytes.
    assert(
      scrubbed.length < `Authorization: Basic ${encoded}`.length - 20,
      scrubbed,
    );
  }
  const urlSafe = base64(`?${secret}~~`).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  );
  assert(scrubSecrets(urlSafe, [secret]).includes(REDACTED));
});

Deno.test("scrubSecrets() replaces the longest secret first", () => {
  const scrubbed = scrubSecrets("token abcd-efgh and abcd", [
    "abcd",
    "abcd-efgh",
  ]);
  assertEquals(scrubbed, `token ${REDACTED} and ${REDACTED}`);
});

Deno.test("scrubSecrets() treats regular-expression characters literally", () => {
  const secret = "a.b*c+(d)[e]$^|\\/";
  assertEquals(
    scrubSecrets(`x${secret}y aXbbc`, [secret]),
    `x${REDACTED}y aXbbc`,
  );
});

Deno.test("scrubSecrets() leaves secrets shorter than the minimum alone", () => {
  assertEquals(MIN_SCRUB_LENGTH, 4);
  const text = "a value of 12 in abc";
  assertEquals(scrubSecrets(text, ["", "a", "12", "abc"]), text);
  assertEquals(secretForms("abc"), []);
  assertEquals(scrubSecrets("xabcdx", ["abcd"]), `x${REDACTED}x`);
});

Deno.test("scrubSecrets() replaces each long line of a private key", () => {
  const body =
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
  const key =
    // A fake key: the marker is assembled so secret scanners do not flag the file.
    `-----BEGIN OPENSSH ${"PRIVATE"} KEY-----\n${body}\nAAAA\n-----END OPENSSH ${"PRIVATE"} KEY-----\n`;
  const output = `cat id_ed25519\r\n${body}\r\nAAAA\r\n`;
  const scrubbed = scrubSecrets(output, [key]);
  assert(!scrubbed.includes(body), scrubbed);
  assertEquals(scrubbed, `cat id_ed25519\r\n${REDACTED}\r\nAAAA\r\n`);
});

Deno.test("secretForms() lists raw, JSON, percent and base64 forms longest first", () => {
  const forms = secretForms('se"cret!');
  assert(forms.includes('se"cret!'));
  assert(forms.includes('se\\"cret!'));
  assert(forms.includes("se%22cret!"));
  assert(forms.includes(base64('se"cret!').replace(/=+$/, "").slice(0, 10)));
  for (let i = 1; i < forms.length; i++) {
    assert(forms[i - 1]!.length >= forms[i]!.length, "forms are not sorted");
  }
});

Deno.test("createScrubber() with no usable secrets returns text unchanged", () => {
  const { scrub, scrubCut } = createScrubber([]);
  assertEquals(scrub("anything"), "anything");
  assertEquals(scrubCut("anything"), "anything");
  assertEquals(createScrubber(["", "x"]).scrub("x marks"), "x marks");
});

Deno.test("Scrubber.scrubCut() redacts a secret cut off at the end of the text", () => {
  const scrubber = createScrubber(["correct-horse"]);
  assertEquals(scrubber.scrubCut("pw: correct-ho"), `pw: ${REDACTED}`);
  assertEquals(scrubber.scrubCut("pw: c"), `pw: ${REDACTED}`);
  assertEquals(
    scrubber.scrubCut("correct-horse and correct-"),
    `${REDACTED} and ${REDACTED}`,
  );
  assertEquals(scrubber.scrubCut("nothing here"), "nothing here");
  // scrub() alone leaves the partial secret: it is only for uncut text.
  assertEquals(scrubber.scrub("pw: correct-ho"), "pw: correct-ho");
});
