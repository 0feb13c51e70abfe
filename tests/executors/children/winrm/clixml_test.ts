/** CLIXML decoding against the recorded PowerShell stderr in the fixtures. */
import { assertEquals } from "../../../support/assert.ts";
import {
  decodeClixmlEscapes,
  decodeStderr,
} from "../../../../executors/children/winrm/clixml.ts";

const FIXTURES = new URL(
  "../../../testdata/winrm/",
  import.meta.url,
);
const read = (path: string): string =>
  Deno.readTextFileSync(new URL(path, FIXTURES));

Deno.test("decodeStderr() turns pypsrp's error CLIXML into PowerShell's console text and drops progress", () => {
  const decoded = decodeStderr(
    read("pypsrp-clixml/test_sanitise_clixml_with_error.xml"),
  );
  assertEquals(decoded.hadErrorRecords, true);
  assertEquals(
    decoded.text,
    "fake : The term 'fake' is not recognized as the name of a cmdlet, function, script file, or operable program. Check \n" +
      "the spelling of the name, or if a path was included, verify that the path is correct and try again.\n" +
      "At line:1 char:1\n" +
      "+ fake cmdlet\n" +
      "+ ~~~~\n" +
      "    + CategoryInfo          : ObjectNotFound: (fake:String) [], CommandNotFoundException\n" +
      "    + FullyQualifiedErrorId : CommandNotFoundException\n" +
      " \n",
  );
});

Deno.test("decodeStderr() reports progress records alone as no error and no text", () => {
  const decoded = decodeStderr(
    read("pypsrp-clixml/test_sanitise_clixml_with_no_errors.xml"),
  );
  assertEquals(decoded, { text: "", hadErrorRecords: false });
});

Deno.test("decodeStderr() decodes pywinrm's Write-Error stderr (single-line CLIXML)", () => {
  const raw = new TextDecoder().decode(
    Deno.readFileSync(
      new URL("derived/pywinrm-get_ps_output_response.stderr.bin", FIXTURES),
    ),
  );
  const decoded = decodeStderr(raw);
  assertEquals(decoded.hadErrorRecords, true);
  assertEquals(
    decoded.text,
    'Write-Error "Error" : Error\n' +
      "    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorExcep \n" +
      "   tion\n" +
      "    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorExceptio \n" +
      "   n\n" +
      " \n",
  );
});

Deno.test("decodeStderr() keeps warnings with their prefix, passes plain text through and survives a cut", () => {
  const clixml = "#< CLIXML\r\n" +
    '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">' +
    '<S S="warning">disk almost full_x000D__x000A_</S>' +
    '<S S="verbose">checked C:_x000A_</S></Objs>';
  assertEquals(decodeStderr(`native tool said hi\r\n${clixml}`), {
    text:
      "native tool said hi\nWARNING: disk almost full\nVERBOSE: checked C:\n",
    hadErrorRecords: false,
  });
  assertEquals(decodeStderr("err \r\n"), {
    text: "err \n",
    hadErrorRecords: false,
  });
  // Cut by the output cap in the middle of a record.
  const cut =
    '#< CLIXML\r\n<Objs><S S="Error">boom &amp; bust_x000D__x000A_</S><S S="Error">half a li';
  assertEquals(decodeStderr(cut), {
    text: "boom & bust\nhalf a li",
    hadErrorRecords: true,
  });
});

Deno.test("decodeClixmlEscapes() decodes _xHHHH_ escapes including surrogate pairs", () => {
  assertEquals(decodeClixmlEscapes("a_x000D__x000A_b"), "a\r\nb");
  assertEquals(decodeClixmlEscapes("_xD83D__xDE00_"), "😀");
  assertEquals(decodeClixmlEscapes("_x00_ x_y"), "_x00_ x_y");
});
