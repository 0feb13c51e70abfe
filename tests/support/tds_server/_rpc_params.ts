/**
 * RPC parameter decoding (TYPE_INFO and values, MS-TDS 2.2.5.4-2.2.5.6), for
 * the `sp_executesql` parameters the server hands to the query handler.
 *
 * @module
 */

import { ByteReader, concat, decodeUtf16 } from "./_bytes.ts";
import {
  DAYS_TO_UNIX_EPOCH_FROM_0001,
  DAYS_TO_UNIX_EPOCH_FROM_1900,
  MS_PER_DAY,
} from "./_constants.ts";
import { timeBytes } from "./_type_encoders.ts";

/**
 * Reads the parameters that follow an RPC's name and option flags: name,
 * status flags, TYPE_INFO and value of each, up to the end of the message.
 *
 * @throws {TypeError} for a parameter type the server does not decode
 * @throws {RangeError} when a parameter is truncated
 */
export function readRpcParameters(
  r: ByteReader,
): { name: string; value: unknown }[] {
  const values: { name: string; value: unknown }[] = [];
  while (r.remaining > 0) {
    const nameChars = r.u8();
    const name = decodeUtf16(r.bytes(nameChars * 2));
    r.u8(); // StatusFlags
    const typeInfo = readTypeInfo(r, name);
    values.push({ name, value: readTypedValue(r, typeInfo) });
  }
  return values;
}

interface TypeInfo {
  id: number;
  name: string;
  length: number;
  scale: number;
  plp: boolean;
  lengthBytes: 0 | 1 | 2;
}

const FIXED_LENGTHS: Record<number, number> = {
  0x1f: 0, // NULLTYPE
  0x30: 1, // INT1
  0x32: 1, // BIT
  0x34: 2, // INT2
  0x38: 4, // INT4
  0x3a: 4, // DATETIM4
  0x3b: 4, // FLT4
  0x3c: 8, // MONEY
  0x3d: 8, // DATETIME
  0x3e: 8, // FLT8
  0x7a: 4, // MONEY4
  0x7f: 8, // INT8
};

function readTypeInfo(r: ByteReader, name: string): TypeInfo {
  const id = r.u8();
  const info: TypeInfo = {
    id,
    name,
    length: 0,
    scale: 0,
    plp: false,
    lengthBytes: 0,
  };
  const fixed = FIXED_LENGTHS[id];
  if (fixed !== undefined) {
    info.length = fixed;
    return info;
  }
  switch (id) {
    case 0x24: // GUID
    case 0x26: // INTN
    case 0x68: // BITN
    case 0x6d: // FLTN
    case 0x6e: // MONEYN
    case 0x6f: // DATETIMN
      info.length = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0x6a: // DECIMALN
    case 0x6c: // NUMERICN
      info.length = r.u8();
      r.u8(); // precision
      info.scale = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0x28: // DATEN
      info.lengthBytes = 1;
      return info;
    case 0x29: // TIMEN
    case 0x2a: // DATETIME2N
    case 0x2b: // DATETIMEOFFSETN
      info.scale = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0xa5: // BIGVARBINARY
    case 0xad: // BIGBINARY
      info.length = r.u16le();
      info.plp = info.length === 0xffff;
      info.lengthBytes = 2;
      return info;
    case 0xa7: // BIGVARCHAR
    case 0xaf: // BIGCHAR
    case 0xe7: // NVARCHAR
    case 0xef: // NCHAR
      info.length = r.u16le();
      r.bytes(5); // collation
      info.plp = info.length === 0xffff;
      info.lengthBytes = 2;
      return info;
    default:
      throw new TypeError(
        `The TDS test server cannot decode RPC parameter ${name} of type 0x${
          id.toString(16)
        }`,
      );
  }
}

function readTypedValue(r: ByteReader, info: TypeInfo): unknown {
  let data: Uint8Array;
  if (info.plp) {
    const total = r.u64le();
    if (total === 0xffffffffffffffffn) return null;
    const chunks: Uint8Array[] = [];
    for (;;) {
      const size = r.u32le();
      if (size === 0) break;
      chunks.push(r.bytes(size));
    }
    data = concat(...chunks);
  } else if (info.lengthBytes === 2) {
    const size = r.u16le();
    if (size === 0xffff) return null;
    data = r.bytes(size);
  } else if (info.lengthBytes === 1) {
    const size = r.u8();
    if (size === 0) return null;
    data = r.bytes(size);
  } else {
    if (info.id === 0x1f) return null;
    data = r.bytes(info.length);
  }
  const d = new ByteReader(data);
  switch (info.id) {
    case 0x30:
    case 0x34:
    case 0x38:
    case 0x7f:
    case 0x26:
      switch (data.length) {
        case 1:
          return d.u8();
        case 2:
          return d.i16le();
        case 4:
          return d.i32le();
        default:
          return d.i64le();
      }
    case 0x32:
    case 0x68:
      return d.u8() !== 0;
    case 0x3b:
    case 0x3e:
    case 0x6d:
      return data.length === 4 ? d.f32le() : d.f64le();
    case 0x3c:
    case 0x7a:
    case 0x6e:
      if (data.length === 4) return d.i32le() / 10000;
      return (d.i32le() * 2 ** 32 + d.u32le()) / 10000;
    case 0x3a:
    case 0x3d:
    case 0x6f:
      if (data.length === 4) {
        const days = d.u16le();
        const minutes = d.u16le();
        return new Date(
          (days - DAYS_TO_UNIX_EPOCH_FROM_1900) * MS_PER_DAY + minutes * 60_000,
        );
      } else {
        const days = d.i32le();
        const ticks = d.u32le();
        return new Date(
          (days - DAYS_TO_UNIX_EPOCH_FROM_1900) * MS_PER_DAY +
            Math.round(ticks * 10 / 3),
        );
      }
    case 0x6a:
    case 0x6c: {
      const positive = d.u8() === 1;
      let magnitude = 0n;
      for (let i = data.length - 1; i >= 1; i--) {
        magnitude = (magnitude << 8n) | BigInt(data[i] as number);
      }
      const digits = magnitude.toString().padStart(info.scale + 1, "0");
      const text = info.scale === 0
        ? digits
        : `${digits.slice(0, -info.scale)}.${digits.slice(-info.scale)}`;
      return positive ? text : `-${text}`;
    }
    case 0x24: {
      const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
      const hex = order.map((i) =>
        (data[i] as number).toString(16).padStart(2, "0")
      ).join("").toUpperCase();
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${
        hex.slice(16, 20)
      }-${hex.slice(20)}`;
    }
    case 0x28:
      return new Date(
        (d.uintLe(3) - DAYS_TO_UNIX_EPOCH_FROM_0001) * MS_PER_DAY,
      );
    case 0x29:
    case 0x2a:
    case 0x2b: {
      const size = timeBytes(info.scale);
      const ms = d.uintLe(size) / 10 ** (info.scale - 3);
      if (info.id === 0x29) return new Date(ms);
      const days = d.uintLe(3) - DAYS_TO_UNIX_EPOCH_FROM_0001;
      return new Date(days * MS_PER_DAY + ms);
    }
    case 0xa5:
    case 0xad:
      return data.slice();
    case 0xa7:
    case 0xaf:
      return String.fromCharCode(...data);
    default: // 0xe7, 0xef
      return decodeUtf16(data);
  }
}
