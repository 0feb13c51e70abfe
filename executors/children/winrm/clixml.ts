/**
 * PowerShell's stderr under `-EncodedCommand`: CLIXML (`#< CLIXML` then an
 * `<Objs>` document) turned into readable text, and whether it holds error
 * records.
 *
 * Progress records (`<Obj S="progress">`) appear even when nothing failed and
 * are dropped; `<S S="Error">` strings are errors; warning, verbose and debug
 * strings keep PowerShell's console prefixes. `_xHHHH_` escapes (e.g.
 * `_x000D__x000A_`) are decoded. Text outside a CLIXML block passes through.
 *
 * @module
 */
import {
  attribute,
  childElement,
  clark,
  elementChildren,
  parseXml,
  textContent,
  type XmlElement,
} from "./xml.ts";

/** The marker PowerShell writes before serialized stderr. */
export const CLIXML_MARKER = "#< CLIXML";

/** Decoded stderr. */
export interface DecodedStderr {
  /** Readable text, lines ending in `\n`. */
  text: string;
  /** True when a CLIXML error record was found. */
  hadErrorRecords: boolean;
}

const PREFIXES: Record<string, string> = {
  warning: "WARNING: ",
  verbose: "VERBOSE: ",
  debug: "DEBUG: ",
};

/** Decodes `_xHHHH_` escapes (XmlConvert.EncodeName style) to characters. */
export function decodeClixmlEscapes(text: string): string {
  return text.replace(
    /_x([0-9A-Fa-f]{4})_/g,
    (_whole, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * Turns PowerShell stderr into readable text and reports error records.
 * Malformed or cut-off CLIXML (an output cap) falls back to a tolerant scan.
 */
export function decodeStderr(raw: string): DecodedStderr {
  let text = "";
  let hadErrorRecords = false;
  let rest = raw;
  for (;;) {
    const marker = rest.indexOf(CLIXML_MARKER);
    if (marker < 0) {
      text += rest;
      break;
    }
    text += rest.slice(0, marker);
    rest = rest.slice(marker + CLIXML_MARKER.length).replace(/^\r?\n/, "");
    const close = rest.indexOf("</Objs>");
    const block = close < 0 ? rest : rest.slice(0, close + "</Objs>".length);
    rest = close < 0 ? "" : rest.slice(close + "</Objs>".length)
      .replace(/^\r?\n/, "");
    const decoded = decodeBlock(block);
    text += decoded.text;
    hadErrorRecords ||= decoded.hadErrorRecords;
  }
  return { text: text.replace(/\r\n/g, "\n"), hadErrorRecords };
}

function decodeBlock(block: string): DecodedStderr {
  let root: XmlElement;
  try {
    root = parseXml(block);
  } catch {
    return scanBlock(block);
  }
  let text = "";
  let hadErrorRecords = false;
  for (const record of elementChildren(root)) {
    const stream = (attribute(record, "S") ?? "").toLowerCase();
    if (stream === "progress") continue;
    let value: string;
    if (record.local === "S") {
      value = textContent(record);
    } else if (record.local === "Obj") {
      const summary = childElement(record, clark(record.namespace, "ToString"));
      if (summary === undefined) continue;
      value = textContent(summary);
      if (!/\n/.test(decodeClixmlEscapes(value))) value += "_x000A_";
    } else {
      continue;
    }
    if (stream === "error") hadErrorRecords = true;
    text += (PREFIXES[stream] ?? "") + decodeClixmlEscapes(value);
  }
  return { text, hadErrorRecords };
}

const ENTITY: Record<string, string> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

/** Best effort for a block that is not well-formed: its `<S S="...">` strings. */
function scanBlock(block: string): DecodedStderr {
  let text = "";
  let hadErrorRecords = false;
  for (
    const match of block.matchAll(/<S\s+S="([^"]*)"\s*>([^<]*)(?:<\/S>|$)/g)
  ) {
    const stream = match[1]!.toLowerCase();
    if (stream === "progress") continue;
    if (stream === "error") hadErrorRecords = true;
    const value = match[2]!.replace(
      /&(lt|gt|amp|quot|apos);/g,
      (_whole, name: string) => ENTITY[name]!,
    );
    text += (PREFIXES[stream] ?? "") + decodeClixmlEscapes(value);
  }
  if (/<Obj\s+S="Error"/i.test(block)) hadErrorRecords = true;
  return { text, hadErrorRecords };
}
