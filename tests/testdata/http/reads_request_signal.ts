/**
 * A Deno.serve handler that reads `request.signal`, answers one request and
 * stops. Under Deno's legacy abort behaviour this prints a plain-text
 * warning on stderr once the response is sent; deno.json's
 * `"unstable": ["no-legacy-abort"]` turns that behaviour (and the warning)
 * off for every program of the project.
 */
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  (request) => {
    request.signal.addEventListener("abort", () => {});
    return new Response("ok");
  },
);
await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text();
await new Promise((resolve) => setTimeout(resolve, 100));
await server.shutdown();
