/**
 * A small, strict XML reader for WS-Management envelopes and PowerShell
 * CLIXML: elements, attributes, text, CDATA, comments and namespaces.
 *
 * Trust boundary: the input comes from the network. A DOCTYPE is refused
 * outright (no entity expansion), only the five predefined entities and
 * numeric character references are decoded, and size and depth are bounded.
 *
 * @module
 */

/** Namespace of the `xml:` prefix (always bound). */
export const XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace";

/** Largest document accepted (characters). */
export const MAX_XML_CHARS = 32 * 1024 * 1024;
/** Deepest element nesting accepted. */
export const MAX_XML_DEPTH = 128;

/** One attribute, with its namespace resolved. */
export interface XmlAttribute {
  /** Qualified name as written, e.g. `xml:lang`. */
  readonly name: string;
  /** Local part of the name. */
  readonly local: string;
  /** Namespace URI; "" for an unprefixed attribute. */
  readonly namespace: string;
  readonly value: string;
}

/** One element, with its namespace resolved and its children in order. */
export interface XmlElement {
  /** Qualified name as written, e.g. `rsp:Stream`. */
  readonly name: string;
  /** Local part of the name, e.g. `Stream`. */
  readonly local: string;
  /** Namespace URI; "" when none is in scope. */
  readonly namespace: string;
  readonly attributes: readonly XmlAttribute[];
  /** Child elements and text, in document order. */
  readonly children: readonly XmlNode[];
}

/** A child of an element: another element or a run of text. */
export type XmlNode = XmlElement | string;

/** Thrown for input that is not well-formed or uses a refused feature. */
export class XmlError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "XmlError";
  }
}

const NAME = /^[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?$/;

interface MutableElement {
  name: string;
  local: string;
  namespace: string;
  attributes: XmlAttribute[];
  children: XmlNode[];
  scope: Map<string, string>;
}

/**
 * Parses one XML document and returns its root element.
 *
 * @throws {XmlError} if the document is not well-formed, too large or too
 *   deep, declares a DOCTYPE, or uses an undeclared prefix or unknown entity
 */
export function parseXml(text: string): XmlElement {
  if (text.length > MAX_XML_CHARS) {
    throw new XmlError(
      `XML document of ${text.length} characters is larger than ${MAX_XML_CHARS}`,
    );
  }
  let at = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const stack: MutableElement[] = [];
  let root: MutableElement | null = null;
  const fail = (detail: string): never => {
    throw new XmlError(`Malformed XML at offset ${at}: ${detail}`);
  };

  while (at < text.length) {
    const lt = text.indexOf("<", at);
    const textEnd = lt < 0 ? text.length : lt;
    if (textEnd > at) {
      const raw = text.slice(at, textEnd);
      const parent = stack[stack.length - 1];
      if (parent === undefined) {
        if (raw.trim() !== "") fail("text outside the root element");
      } else {
        pushText(parent, decodeEntities(raw, fail));
      }
      at = textEnd;
      continue;
    }
    if (text.startsWith("<?", at)) {
      const end = text.indexOf("?>", at);
      if (end < 0) fail("unterminated processing instruction");
      at = end + 2;
      continue;
    }
    if (text.startsWith("<!--", at)) {
      const end = text.indexOf("-->", at + 4);
      if (end < 0) fail("unterminated comment");
      at = end + 3;
      continue;
    }
    if (text.startsWith("<![CDATA[", at)) {
      const end = text.indexOf("]]>", at);
      if (end < 0) fail("unterminated CDATA section");
      const parent = stack[stack.length - 1];
      if (parent === undefined) fail("CDATA outside the root element");
      pushText(parent!, text.slice(at + 9, end));
      at = end + 3;
      continue;
    }
    if (text.startsWith("<!", at)) {
      fail("DOCTYPE and other declarations are refused");
    }
    if (text.startsWith("</", at)) {
      const end = text.indexOf(">", at);
      if (end < 0) fail("unterminated end tag");
      const name = text.slice(at + 2, end).trim();
      const open = stack.pop();
      if (open === undefined || open.name !== name) {
        fail(`end tag </${name}> does not match <${open?.name ?? ""}>`);
      }
      at = end + 1;
      continue;
    }
    // A start tag.
    const tag = readStartTag(text, at, fail);
    at = tag.end;
    const parentScope = stack[stack.length - 1]?.scope ??
      new Map([["xml", XML_NAMESPACE]]);
    let scope = parentScope;
    for (const [name, value] of tag.attributes) {
      if (name === "xmlns" || name.startsWith("xmlns:")) {
        if (scope === parentScope) scope = new Map(parentScope);
        scope.set(name === "xmlns" ? "" : name.slice(6), value);
      }
    }
    const [prefix, local] = splitName(tag.name);
    const namespace = scope.get(prefix) ??
      (prefix === "" ? "" : fail(`undeclared prefix "${prefix}"`));
    const attributes: XmlAttribute[] = [];
    for (const [name, value] of tag.attributes) {
      if (name === "xmlns" || name.startsWith("xmlns:")) continue;
      const [attrPrefix, attrLocal] = splitName(name);
      const attrNamespace = attrPrefix === ""
        ? ""
        : scope.get(attrPrefix) ?? fail(`undeclared prefix "${attrPrefix}"`);
      attributes.push({
        name,
        local: attrLocal,
        namespace: attrNamespace,
        value,
      });
    }
    const element: MutableElement = {
      name: tag.name,
      local,
      namespace,
      attributes,
      children: [],
      scope,
    };
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      if (root !== null) fail("a second root element");
      root = element;
    } else {
      parent.children.push(element);
    }
    if (!tag.selfClosing) {
      stack.push(element);
      if (stack.length > MAX_XML_DEPTH) {
        fail(`elements nested deeper than ${MAX_XML_DEPTH}`);
      }
    }
  }
  if (stack.length > 0) {
    fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  }
  if (root === null) fail("no root element");
  return root!;
}

function pushText(parent: MutableElement, value: string): void {
  if (value === "") return;
  const last = parent.children.length - 1;
  const previous = parent.children[last];
  if (typeof previous === "string") {
    parent.children[last] = previous + value;
  } else {
    parent.children.push(value);
  }
}

function splitName(name: string): [string, string] {
  const colon = name.indexOf(":");
  return colon < 0 ? ["", name] : [name.slice(0, colon), name.slice(colon + 1)];
}

interface StartTag {
  name: string;
  attributes: [string, string][];
  selfClosing: boolean;
  end: number;
}

function readStartTag(
  text: string,
  start: number,
  fail: (detail: string) => never,
): StartTag {
  let at = start + 1;
  const nameMatch = /^[^\s/>]+/.exec(text.slice(at, at + 256));
  if (nameMatch === null || !NAME.test(nameMatch[0])) {
    fail("invalid element name");
  }
  const name = nameMatch![0];
  at += name.length;
  const attributes: [string, string][] = [];
  const seen = new Set<string>();
  for (;;) {
    while (at < text.length && /\s/.test(text[at]!)) at++;
    if (at >= text.length) fail(`unterminated start tag <${name}>`);
    if (text.startsWith("/>", at)) {
      return { name, attributes, selfClosing: true, end: at + 2 };
    }
    if (text[at] === ">") {
      return { name, attributes, selfClosing: false, end: at + 1 };
    }
    const attr = /^([^\s=/>]+)\s*=\s*(["'])/.exec(text.slice(at, at + 512));
    if (attr === null || !NAME.test(attr[1]!)) {
      fail(`invalid attribute in <${name}>`);
    }
    const attrName = attr![1]!;
    const quote = attr![2]!;
    const valueStart = at + attr![0].length;
    const valueEnd = text.indexOf(quote, valueStart);
    if (valueEnd < 0) fail(`unterminated attribute ${attrName}`);
    const raw = text.slice(valueStart, valueEnd);
    if (raw.includes("<")) fail(`"<" in attribute ${attrName}`);
    if (seen.has(attrName)) fail(`duplicate attribute ${attrName}`);
    seen.add(attrName);
    attributes.push([attrName, decodeEntities(raw, fail)]);
    at = valueEnd + 1;
  }
}

const ENTITIES: Record<string, string> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

function decodeEntities(raw: string, fail: (detail: string) => never): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(
    /&(?:([^;&\s]{1,10});)?/g,
    (_whole, name: string | undefined) => {
      if (name === undefined) return fail("a bare '&'");
      if (name.startsWith("#")) {
        const hex = name[1] === "x" || name[1] === "X";
        const digits = name.slice(hex ? 2 : 1);
        const code = (hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)
          ? parseInt(digits, hex ? 16 : 10)
          : NaN;
        if (!Number.isInteger(code) || code < 1 || code > 0x10ffff) {
          fail(`invalid character reference &${name};`);
        }
        return String.fromCodePoint(code);
      }
      return ENTITIES[name] ?? fail(`unknown entity &${name};`);
    },
  );
}

/** Escapes text for an XML element or a double-quoted attribute. */
export function escapeXml(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/**
 * An expanded name in Clark notation, `{namespace}local`, as the element
 * finders below take it: `clark(NS.soap, "Body")`.
 */
export function clark(namespace: string, local: string): string {
  return `{${namespace}}${local}`;
}

function matches(element: XmlElement, name: string): boolean {
  return name === `{${element.namespace}}${element.local}`;
}

/** The first child element with this expanded name (see {@linkcode clark}). */
export function childElement(
  parent: XmlElement,
  name: string,
): XmlElement | undefined {
  for (const child of parent.children) {
    if (typeof child !== "string" && matches(child, name)) return child;
  }
  return undefined;
}

/** Every child element with this expanded name (see {@linkcode clark}). */
export function childElements(
  parent: XmlElement,
  name: string,
): XmlElement[] {
  return parent.children.filter((child): child is XmlElement =>
    typeof child !== "string" && matches(child, name)
  );
}

/** Every element child, whatever its name. */
export function elementChildren(parent: XmlElement): XmlElement[] {
  return parent.children.filter((child): child is XmlElement =>
    typeof child !== "string"
  );
}

/** The first descendant (depth first, document order) with this expanded name (see {@linkcode clark}). */
export function findDescendant(
  parent: XmlElement,
  name: string,
): XmlElement | undefined {
  for (const child of parent.children) {
    if (typeof child === "string") continue;
    if (matches(child, name)) return child;
    const found = findDescendant(child, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The value of an unprefixed (or namespaced) attribute. */
export function attribute(
  element: XmlElement,
  local: string,
  namespace = "",
): string | undefined {
  return element.attributes.find((a) =>
    a.local === local && a.namespace === namespace
  )?.value;
}

/** The concatenated text of an element and its descendants. */
export function textContent(element: XmlElement): string {
  let out = "";
  for (const child of element.children) {
    out += typeof child === "string" ? child : textContent(child);
  }
  return out;
}
