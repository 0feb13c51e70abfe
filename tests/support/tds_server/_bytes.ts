/**
 * Bytes: little-endian writer and reader for TDS structures, UTF-16LE and
 * code page 1252 text.
 *
 * @module
 */

/** A growable little-endian writer for TDS structures. */
export class ByteWriter {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  // Callers must reserve before touching #view: `this.#view.setX(this.#reserve(n), v)`
  // reads #view first, and would write through the old view after a growth.
  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buffer.length) {
      let size = this.#buffer.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buffer.subarray(0, at));
      this.#buffer = next;
      this.#view = new DataView(next.buffer);
    }
    this.#length += n;
    return at;
  }

  u8(v: number): void {
    const at = this.#reserve(1);
    this.#view.setUint8(at, v);
  }
  u16le(v: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, true);
  }
  u16be(v: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, false);
  }
  i16le(v: number): void {
    const at = this.#reserve(2);
    this.#view.setInt16(at, v, true);
  }
  u32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, true);
  }
  u32be(v: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, false);
  }
  i32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setInt32(at, v, true);
  }
  u64le(v: bigint): void {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, v, true);
  }
  i64le(v: bigint): void {
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, v, true);
  }
  f32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setFloat32(at, v, true);
  }
  f64le(v: number): void {
    const at = this.#reserve(8);
    this.#view.setFloat64(at, v, true);
  }
  /** An unsigned integer of `size` bytes (up to 6), little-endian. */
  uintLe(v: number, size: number): void {
    let rest = v;
    for (let i = 0; i < size; i++) {
      this.u8(rest % 256);
      rest = Math.floor(rest / 256);
    }
  }
  bytes(b: Uint8Array): void {
    const at = this.#reserve(b.length);
    this.#buffer.set(b, at);
  }
  /** B_VARCHAR: a character count byte, then UTF-16LE. */
  bVarchar(s: string): void {
    if (s.length > 255) {
      throw new RangeError("A B_VARCHAR holds 255 characters");
    }
    this.u8(s.length);
    this.bytes(encodeUtf16(s));
  }
  /** US_VARCHAR: a character count USHORT, then UTF-16LE. */
  usVarchar(s: string): void {
    if (s.length > 65535) {
      throw new RangeError("A US_VARCHAR holds 65535 characters");
    }
    this.u16le(s.length);
    this.bytes(encodeUtf16(s));
  }
  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

/** A bounds-checked little-endian reader. */
export class ByteReader {
  #bytes: Uint8Array;
  #view: DataView;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get length(): number {
    return this.#bytes.length;
  }
  get remaining(): number {
    return this.#bytes.length - this.offset;
  }
  #take(n: number): number {
    if (n < 0 || this.offset + n > this.#bytes.length) {
      throw new RangeError(
        `A TDS structure is truncated: needed ${n} bytes at offset ${this.offset} of ${this.#bytes.length}`,
      );
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16le(): number {
    return this.#view.getUint16(this.#take(2), true);
  }
  i16le(): number {
    return this.#view.getInt16(this.#take(2), true);
  }
  u32le(): number {
    return this.#view.getUint32(this.#take(4), true);
  }
  i32le(): number {
    return this.#view.getInt32(this.#take(4), true);
  }
  u64le(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }
  i64le(): bigint {
    return this.#view.getBigInt64(this.#take(8), true);
  }
  f32le(): number {
    return this.#view.getFloat32(this.#take(4), true);
  }
  f64le(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }
  uintLe(size: number): number {
    const at = this.#take(size);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      v = v * 256 + (this.#bytes[at + i] as number);
    }
    return v;
  }
  bytes(n: number): Uint8Array {
    const at = this.#take(n);
    return this.#bytes.subarray(at, at + n);
  }
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}

/** `length` bytes at `offset`, or a RangeError naming `what` when they run past the end. */
export function slice(
  bytes: Uint8Array,
  offset: number,
  length: number,
  what: string,
): Uint8Array {
  if (offset + length > bytes.length) {
    throw new RangeError(
      `Cannot parse ${what}: ${length} bytes at offset ${offset} run past the ${bytes.length}-byte message`,
    );
  }
  return bytes.subarray(offset, offset + length);
}

/** A big-endian USHORT at `offset`. */
export function readU16be(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
}

/** UTF-16LE bytes of a string, code unit by code unit. */
export function encodeUtf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    out[i * 2] = unit & 0xff;
    out[i * 2 + 1] = unit >> 8;
  }
  return out;
}

const UTF16_DECODER = new TextDecoder("utf-16le");

/** The string in UTF-16LE bytes. */
export function decodeUtf16(bytes: Uint8Array): string {
  return UTF16_DECODER.decode(bytes);
}

/** Latin-1 subset of code page 1252; anything else becomes `?`. */
export function encodeCp1252(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i] = c < 0x80 || (c >= 0xa0 && c <= 0xff) ? c : 0x3f;
  }
  return out;
}

/** The parts joined into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
