// Misbehaving executor: exits with code 3 and no response.
await Deno.stderr.write(new TextEncoder().encode("something broke\n"));
Deno.exit(3);
