import { assertEquals, assertThrows } from "../../../support/assert.ts";
import {
  attribute,
  childElement,
  clark,
  escapeXml,
  findDescendant,
  MAX_XML_DEPTH,
  parseXml,
  textContent,
  XML_NAMESPACE,
  XmlError,
} from "../../../../executors/children/winrm/xml.ts";

Deno.test("parseXml() resolves prefixes, default namespaces and xml:lang", () => {
  const root = parseXml(
    '<?xml version="1.0"?>\n<s:Envelope xmlns:s="urn:s" xmlns="urn:d" xml:lang=\'en-US\'>' +
      '<s:Body><Item a=\'1\' b="2"/><!-- c --><x:Y xmlns:x="urn:x">t</x:Y></s:Body></s:Envelope>',
  );
  assertEquals([root.local, root.namespace], ["Envelope", "urn:s"]);
  assertEquals(attribute(root, "lang", XML_NAMESPACE), "en-US");
  const body = childElement(root, clark("urn:s", "Body"))!;
  const item = childElement(body, clark("urn:d", "Item"))!;
  assertEquals([attribute(item, "a"), attribute(item, "b")], ["1", "2"]);
  assertEquals(textContent(findDescendant(root, clark("urn:x", "Y"))!), "t");
});

Deno.test("parseXml() decodes entities, character references and CDATA", () => {
  const root = parseXml(
    '<a t="&quot;&amp;&#x41;">&lt;b&gt; &amp;amp; &#233;&#x1F600;<![CDATA[<raw & text>]]></a>',
  );
  assertEquals(attribute(root, "t"), '"&A');
  assertEquals(textContent(root), "<b> &amp; é😀<raw & text>");
});

Deno.test("parseXml() refuses a DOCTYPE, unknown entities and a bare ampersand", () => {
  for (
    const input of [
      '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
      "<a>&nbsp;</a>",
      "<a>fish & chips</a>",
      "<a>&#0;</a>",
    ]
  ) {
    assertThrows(() => parseXml(input), XmlError);
  }
});

Deno.test("parseXml() refuses malformed documents", () => {
  for (
    const input of [
      "",
      "text only",
      "<a><b></a></b>",
      "<a>",
      "<a></a><b></b>",
      "<p:a/>",
      '<a x="1" x="2"/>',
      '<a x="<"/>',
      "<a>x</a>trailing",
    ]
  ) {
    assertThrows(() => parseXml(input), XmlError, undefined);
  }
});

Deno.test("parseXml() bounds the nesting depth", () => {
  const deep = "<a>".repeat(MAX_XML_DEPTH + 1) +
    "</a>".repeat(MAX_XML_DEPTH + 1);
  assertThrows(() => parseXml(deep), XmlError, "nested deeper");
  const ok = "<a>".repeat(MAX_XML_DEPTH) + "</a>".repeat(MAX_XML_DEPTH);
  assertEquals(parseXml(ok).local, "a");
});

Deno.test("escapeXml() escapes markup and quotes", () => {
  assertEquals(
    escapeXml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;",
  );
  assertEquals(
    textContent(parseXml(`<a>${escapeXml("<&>\"'")}</a>`)),
    "<&>\"'",
  );
});
