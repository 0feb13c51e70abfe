// Misbehaving executor: answers with text that is not JSON.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
await Deno.stdout.write(new TextEncoder().encode("<html>not a response</html>\n"));
