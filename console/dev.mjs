// Console development without rebuilding the server: serves console/.dev (rebuilt by esbuild on
// every change to console/src) and forwards gRPC-Web calls to a running `tally serve`.
//
//   TALLY_URL=http://127.0.0.1:50051 node console/dev.mjs [port]
import { context } from "esbuild";
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, request } from "node:http";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleOptions, copyStatic } from "./bundle.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, ".dev"); // not dist: the checked-in build stays minified
const upstream = new URL(process.env.TALLY_URL ?? "http://127.0.0.1:50051");
const port = Number(process.argv[2] ?? 5173);
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

copyStatic(dist);
const builder = await context({ ...bundleOptions(dist), logLevel: "info" });
await builder.watch();

createServer((incoming, outgoing) => {
  if ((incoming.headers["content-type"] ?? "").startsWith("application/grpc")) {
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on("error", (error) => {
      outgoing.writeHead(502, { "content-type": "text/plain" });
      outgoing.end(`tally at ${upstream} does not answer: ${error.message}`);
    });
    incoming.pipe(forwarded);
    return;
  }
  const path = normalize(new URL(incoming.url ?? "/", "http://x").pathname);
  let file = join(dist, path);
  if (!path.startsWith("/assets/") || !existsSync(file) || !statSync(file).isFile()) file = join(dist, "index.html");
  outgoing.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" });
  createReadStream(file).pipe(outgoing);
}).listen(port, "127.0.0.1", () => console.log(`console at http://127.0.0.1:${port}/ (calls go to ${upstream})`));
