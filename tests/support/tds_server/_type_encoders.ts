/**
 * Column types on the wire: TYPE_INFO in COLMETADATA (MS-TDS 2.2.5.4) and
 * each value's bytes in a row, from the JavaScript values a test supplies.
 *
 * @module
 */

import { type ByteWriter, encodeCp1252, encodeUtf16 } from "./_bytes.ts";
import {
  COLLATION,
  DAYS_TO_UNIX_EPOCH_FROM_0001,
  DAYS_TO_UNIX_EPOCH_FROM_1900,
  MS_PER_DAY,
} from "./_constants.ts";
import type { TdsColumn, TdsColumnType } from "./types.ts";

/** A column checked and sized for encoding. */
export interface ColumnPlan {
  column: TdsColumn;
  nullable: boolean;
  /** PLP (`max`) streaming. */
  plp: boolean;
  /** Max bytes for variable-length types. */
  maxBytes: number;
  precision: number;
  scale: number;
}

/**
 * Checks a column and works out its wire form.
 *
 * @throws {RangeError} for a length, precision or scale out of range
 */
export function planColumn(column: TdsColumn): ColumnPlan {
  const nullable = column.nullable !== false;
  let maxBytes = 0;
  let plp = false;
  if (
    column.type === "nvarchar" || column.type === "varchar" ||
    column.type === "varbinary"
  ) {
    const unit = column.type === "nvarchar" ? 2 : 1;
    const limit = column.type === "nvarchar" ? 4000 : 8000;
    const length = column.length ?? limit;
    if (length === "max") {
      plp = true;
      maxBytes = 0xffff;
    } else if (!Number.isInteger(length) || length < 1 || length > limit) {
      throw new RangeError(
        `Column "${column.name}" of type ${column.type} has length ${length}; use 1-${limit} or "max"`,
      );
    } else {
      maxBytes = length * unit;
    }
  }
  const precision = column.precision ?? 18;
  const scale = column.scale ?? (column.type === "datetime2" ? 7 : 0);
  if (
    column.type === "decimal" &&
    (precision < 1 || precision > 38 || scale < 0 || scale > precision)
  ) {
    throw new RangeError(
      `Column "${column.name}" has decimal(${precision}, ${scale}); precision must be 1-38 and scale 0-precision`,
    );
  }
  if (column.type === "datetime2" && (scale < 0 || scale > 7)) {
    throw new RangeError(
      `Column "${column.name}" has datetime2(${scale}); the scale must be 0-7`,
    );
  }
  return { column, nullable, plp, maxBytes, precision, scale };
}

function decimalBytes(precision: number): number {
  if (precision <= 9) return 4;
  if (precision <= 19) return 8;
  if (precision <= 28) return 12;
  return 16;
}

/** Bytes of a TIME value of the given scale (MS-TDS 2.2.5.5.1.8). */
export function timeBytes(scale: number): number {
  if (scale <= 2) return 3;
  if (scale <= 4) return 4;
  return 5;
}

const FIXED_TYPES: Partial<Record<TdsColumnType, [number, number]>> = {
  tinyint: [0x30, 1],
  smallint: [0x34, 2],
  int: [0x38, 4],
  bigint: [0x7f, 8],
  bit: [0x32, 1],
  real: [0x3b, 4],
  float: [0x3e, 8],
  datetime: [0x3d, 8],
};

const NULLABLE_TYPES: Partial<Record<TdsColumnType, [number, number]>> = {
  tinyint: [0x26, 1],
  smallint: [0x26, 2],
  int: [0x26, 4],
  bigint: [0x26, 8],
  bit: [0x68, 1],
  real: [0x6d, 4],
  float: [0x6d, 8],
  datetime: [0x6f, 8],
  uniqueidentifier: [0x24, 16],
};

/** TYPE_INFO of a planned column. */
export function writeTypeInfo(w: ByteWriter, plan: ColumnPlan): void {
  const type = plan.column.type;
  const fixed = plan.nullable ? undefined : FIXED_TYPES[type];
  if (fixed !== undefined) {
    w.u8(fixed[0]);
    return;
  }
  const byteLength = NULLABLE_TYPES[type];
  if (byteLength !== undefined) {
    w.u8(byteLength[0]);
    w.u8(byteLength[1]);
    return;
  }
  switch (type) {
    case "decimal":
      w.u8(0x6a); // DECIMALN
      w.u8(1 + decimalBytes(plan.precision));
      w.u8(plan.precision);
      w.u8(plan.scale);
      return;
    case "datetime2":
      w.u8(0x2a); // DATETIME2N
      w.u8(plan.scale);
      return;
    case "date":
      w.u8(0x28); // DATEN
      return;
    case "nvarchar":
      w.u8(0xe7);
      w.u16le(plan.maxBytes);
      w.bytes(COLLATION);
      return;
    case "varchar":
      w.u8(0xa7);
      w.u16le(plan.maxBytes);
      w.bytes(COLLATION);
      return;
    case "varbinary":
      w.u8(0xa5);
      w.u16le(plan.maxBytes);
      return;
    default:
      throw new TypeError(`Unsupported column type ${type}`);
  }
}

/**
 * One non-NULL value of a planned column.
 *
 * @throws {TypeError} or {RangeError} naming the column when the value does not fit
 */
export function writeValue(
  w: ByteWriter,
  plan: ColumnPlan,
  value: unknown,
): void {
  const { column } = plan;
  const where = `column "${column.name}" (${column.type})`;
  // Fixed-length types carry no length prefix; their nullable forms do.
  const prefix = (n: number): void => {
    if (plan.nullable || FIXED_TYPES[column.type] === undefined) w.u8(n);
  };
  switch (column.type) {
    case "tinyint":
    case "smallint":
    case "int": {
      const [min, max, size] = column.type === "tinyint"
        ? [0, 255, 1]
        : column.type === "smallint"
        ? [-32768, 32767, 2]
        : [-2147483648, 2147483647, 4];
      if (
        typeof value !== "number" || !Number.isInteger(value) || value < min ||
        value > max
      ) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      prefix(size);
      if (size === 1) w.u8(value);
      else if (size === 2) w.i16le(value);
      else w.i32le(value);
      return;
    }
    case "bigint": {
      let big: bigint;
      try {
        big = BigInt(value as bigint | number | string);
      } catch {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      if (big < -(2n ** 63n) || big >= 2n ** 63n) {
        throw new RangeError(`Cannot encode ${big} in ${where}`);
      }
      prefix(8);
      w.i64le(big);
      return;
    }
    case "bit":
      if (typeof value !== "boolean" && value !== 0 && value !== 1) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      prefix(1);
      w.u8(value === true || value === 1 ? 1 : 0);
      return;
    case "float":
    case "real":
      if (typeof value !== "number") {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      if (column.type === "float") {
        prefix(8);
        w.f64le(value);
      } else {
        prefix(4);
        w.f32le(value);
      }
      return;
    case "decimal": {
      const scaled = scaleDecimal(value, plan.scale, where);
      const magnitude = scaled < 0n ? -scaled : scaled;
      if (magnitude >= 10n ** BigInt(plan.precision)) {
        throw new RangeError(
          `Cannot encode ${
            String(value)
          } in ${where}: more than ${plan.precision} digits`,
        );
      }
      const size = decimalBytes(plan.precision);
      w.u8(1 + size);
      w.u8(scaled < 0n ? 0 : 1);
      let rest = magnitude;
      for (let i = 0; i < size; i++) {
        w.u8(Number(rest & 0xffn));
        rest >>= 8n;
      }
      return;
    }
    case "datetime": {
      const ms = toEpochMs(value, where);
      let days = Math.floor(ms / MS_PER_DAY);
      let ticks = Math.round((ms - days * MS_PER_DAY) * 3 / 10);
      if (ticks >= 25_920_000) {
        days += 1;
        ticks = 0;
      }
      prefix(8);
      w.i32le(days + DAYS_TO_UNIX_EPOCH_FROM_1900);
      w.u32le(ticks);
      return;
    }
    case "datetime2": {
      const ms = toEpochMs(value, where);
      const days = Math.floor(ms / MS_PER_DAY);
      const msOfDay = ms - days * MS_PER_DAY;
      const ticks = plan.scale >= 3
        ? msOfDay * 10 ** (plan.scale - 3)
        : Math.min(
          Math.round(msOfDay / 10 ** (3 - plan.scale)),
          86400 * 10 ** plan.scale - 1,
        );
      const size = timeBytes(plan.scale);
      w.u8(size + 3);
      w.uintLe(ticks, size);
      w.uintLe(days + DAYS_TO_UNIX_EPOCH_FROM_0001, 3);
      return;
    }
    case "date": {
      const ms = toEpochMs(value, where);
      w.u8(3);
      w.uintLe(Math.floor(ms / MS_PER_DAY) + DAYS_TO_UNIX_EPOCH_FROM_0001, 3);
      return;
    }
    case "uniqueidentifier": {
      const hex = typeof value === "string" ? value.replace(/[{}-]/g, "") : "";
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      const b = Array.from(
        { length: 16 },
        (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16),
      );
      // Data1-3 are little-endian on the wire, Data4 is as written.
      const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
      w.u8(16);
      for (const i of order) w.u8(b[i] as number);
      return;
    }
    case "nvarchar":
    case "varchar":
    case "varbinary": {
      let bytes: Uint8Array;
      if (column.type === "varbinary") {
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`Cannot encode a non-Uint8Array in ${where}`);
        }
        bytes = value;
      } else {
        if (typeof value !== "string") {
          throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
        }
        bytes = column.type === "nvarchar"
          ? encodeUtf16(value)
          : encodeCp1252(value);
      }
      if (plan.plp) {
        writePlp(w, bytes);
        return;
      }
      if (bytes.length > plan.maxBytes) {
        throw new RangeError(
          `Cannot encode ${bytes.length} bytes in ${where}, which holds ${plan.maxBytes}`,
        );
      }
      w.u16le(bytes.length);
      w.bytes(bytes);
      return;
    }
  }
}

/** PLP_BODY (MS-TDS 2.2.5.2.3): total length, chunks, zero terminator. */
function writePlp(w: ByteWriter, bytes: Uint8Array): void {
  w.u64le(BigInt(bytes.length));
  const chunk = 8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    const part = bytes.subarray(i, i + chunk);
    w.u32le(part.length);
    w.bytes(part);
  }
  w.u32le(0);
}

function scaleDecimal(value: unknown, scale: number, where: string): bigint {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new TypeError(`Cannot encode ${value} in ${where}`);
    }
    text = value.toFixed(scale);
  } else if (typeof value === "bigint") {
    text = value.toString();
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
  }
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) {
    throw new TypeError(`Cannot encode "${text}" in ${where}`);
  }
  const fraction = match[3] ?? "";
  if (fraction.length > scale) {
    throw new RangeError(
      `Cannot encode "${text}" in ${where}: more than ${scale} decimal places`,
    );
  }
  const digits = BigInt((match[2] ?? "0") + fraction.padEnd(scale, "0"));
  return match[1] === "-" ? -digits : digits;
}

function toEpochMs(value: unknown, where: string): number {
  const date = value instanceof Date
    ? value
    : typeof value === "string" || typeof value === "number"
    ? new Date(value)
    : undefined;
  const ms = date?.getTime();
  if (ms === undefined || Number.isNaN(ms)) {
    throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
  }
  return ms;
}
