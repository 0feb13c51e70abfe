/**
 * RC4 stream cipher, needed only for NTLM session security (MS-NLMP 3.4).
 *
 * Written here because Deno's `node:crypto` has no `rc4` cipher
 * (ERR_CRYPTO_UNKNOWN_CIPHER) and no maintained npm package is made for it;
 * verified against the RFC 6229 vectors in `tests/executors/children/winrm/rc4_test.ts`.
 * RC4 is broken as a general cipher: use it for nothing but NTLM.
 *
 * @module
 */

/**
 * One RC4 keystream. NTLM keeps one instance per direction for the whole
 * security context, so every call continues the keystream of the previous one.
 */
export class Rc4 {
  #s = new Uint8Array(256);
  #i = 0;
  #j = 0;

  /**
   * Runs the RC4 key schedule.
   *
   * @throws {RangeError} if the key is empty or longer than 256 bytes.
   */
  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) {
      throw new RangeError(
        `Cannot initialise RC4 with a ${key.length}-byte key; pass 1 to 256 bytes`,
      );
    }
    const s = this.#s;
    for (let i = 0; i < 256; i++) s[i] = i;
    let j = 0;
    for (let i = 0; i < 256; i++) {
      const si = s[i]!;
      j = (j + si + key[i % key.length]!) & 0xff;
      s[i] = s[j]!;
      s[j] = si;
    }
  }

  /** Encrypts or decrypts (the same operation) `data`, continuing the keystream; returns a new array. */
  update(data: Uint8Array): Uint8Array {
    const s = this.#s;
    const out = new Uint8Array(data.length);
    let i = this.#i;
    let j = this.#j;
    for (let n = 0; n < data.length; n++) {
      i = (i + 1) & 0xff;
      const si = s[i]!;
      j = (j + si) & 0xff;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      out[n] = data[n]! ^ s[(si + sj) & 0xff]!;
    }
    this.#i = i;
    this.#j = j;
    return out;
  }
}

/** One-shot RC4 with a fresh key: MS-NLMP's `RC4K(key, data)`. */
export function rc4k(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Rc4(key).update(data);
}
