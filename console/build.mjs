// Bundles the console into console/dist (checked in, embedded in the server's binary): one script,
// one stylesheet, index.html and the icon. The output depends only on the sources and the pinned
// esbuild, so CI rebuilds it and fails when the checked-in files differ.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });

await build({
  entryPoints: { app: join(root, "src/main.tsx") },
  outdir: join(dist, "assets"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
});
copyFileSync(join(root, "src/index.html"), join(dist, "index.html"));
copyFileSync(join(root, "src/favicon.svg"), join(dist, "assets/favicon.svg"));
console.log("console built into", dist);
