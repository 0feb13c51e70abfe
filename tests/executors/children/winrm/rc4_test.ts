import assert from "node:assert/strict";
import { Rc4, rc4k } from "../../../../executors/children/winrm/rc4.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(
    clean.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}

// RFC 6229 section 2: keystream samples (16 bytes at each offset) for keys
// 0x0102...; only some offsets per key are copied, always including 4080/4096.
const RFC_6229: Array<{ key: string; rows: Array<[number, string]> }> = [
  {
    key: "0102030405",
    rows: [
      [0, "b2396305f03dc027ccc3524a0a1118a8"],
      [16, "6982944f18fc82d589c403a47a0d0919"],
      [240, "28cb1132c96ce286421dcaadb8b69eae"],
      [256, "1cfcf62b03eddb641d77dfcf7f8d8c93"],
      [1008, "45129048e6a0ed0b56b490338f078da5"],
      [4080, "068326a2118416d21f9d04b2cd1ca050"],
      [4096, "ff25b58995996707e51fbdf08b34d875"],
    ],
  },
  {
    key: "0102030405060708090a0b0c0d0e0f10",
    rows: [
      [0, "9ac7cc9a609d1ef7b2932899cde41b97"],
      [16, "5248c4959014126a6e8a84f11d1a9e1c"],
      [240, "065902e4b620f6cc36c8589f66432f2b"],
      [256, "d39d566bc6bce3010768151549f3873f"],
      [1024, "bdf0324e6083dcc6d3cedd3ca8c53c16"],
      [4080, "ff38265c1642c1abe8d3c2fe5e572bf8"],
      [4096, "a36a4c301ae8ac13610ccbc12256cacc"],
    ],
  },
  {
    key: "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
    rows: [
      [0, "eaa6bd25880bf93d3f5d1e4ca2611d91"],
      [16, "cfa45c9f7e714b54bdfa80027cb14380"],
      [4080, "a13a7c79c7e119b5ab0296ab28c300b9"],
      [4096, "f3e4c0a2e02d1d01f7f0a74618af2b48"],
    ],
  },
  {
    key: "833222772a",
    rows: [
      [0, "80ad97bdc973df8a2e879e92a497efda"],
      [16, "20f060c2f2e5126501d3d4fea10d5fc0"],
      [4096, "bf42c3018c2f7c66bfde524975768115"],
    ],
  },
  {
    key: "1ada31d5cf688221c109163908ebe51debb46227c6cc8b37641910833222772a",
    rows: [
      [0, "dd5bcb0018e922d494759d7c395d02d3"],
      [16, "c8446f8f77abf737685353eb89a1c9eb"],
      [4096, "370b1c1fe655916d97fd0d47ca1d72b8"],
    ],
  },
];

for (const vector of RFC_6229) {
  Deno.test(`Rc4 reproduces the RFC 6229 keystream for key ${vector.key}`, () => {
    const keystream = rc4k(unhex(vector.key), new Uint8Array(4112));
    for (const [offset, expected] of vector.rows) {
      assert.equal(
        hex(keystream.subarray(offset, offset + 16)),
        hex(unhex(expected)),
        `offset ${offset}`,
      );
    }
  });
}

Deno.test("Rc4.update() continues one keystream across calls", () => {
  const key = unhex("0102030405");
  const whole = rc4k(key, new Uint8Array(4112));
  const rc4 = new Rc4(key);
  const pieces: number[] = [];
  for (const size of [1, 15, 224, 16, 3856]) {
    pieces.push(...rc4.update(new Uint8Array(size)));
  }
  assert.equal(hex(Uint8Array.from(pieces)), hex(whole));
});

Deno.test("Rc4 decrypts what it encrypted and leaves its input untouched", () => {
  const key = unhex("0102030405060708090a0b0c0d0e0f10");
  const plaintext = new TextEncoder().encode("<s:Envelope/>");
  const copy = plaintext.slice();
  const sealed = rc4k(key, plaintext);
  assert.deepEqual(plaintext, copy);
  assert.notDeepEqual(sealed, plaintext);
  assert.deepEqual(rc4k(key, sealed), plaintext);
});

Deno.test("Rc4 rejects an empty or oversized key", () => {
  assert.throws(() => new Rc4(new Uint8Array(0)), RangeError);
  assert.throws(() => new Rc4(new Uint8Array(257)), RangeError);
  assert.doesNotThrow(() => new Rc4(new Uint8Array(256)));
});
