// Misbehaving executor: reads its request, then never answers or exits.
import { readRequest } from "../../../executors/protocol/mod.ts";

await readRequest();
setInterval(() => {}, 1_000_000);
