// Bundles the console into console/dist (checked in, embedded in the server's binary): one script,
// one stylesheet, index.html and the icon. The output depends only on the sources and the pinned
// esbuild, so CI rebuilds it and fails when the checked-in files differ.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleOptions, copyStatic } from "./bundle.mjs";

const dist = join(dirname(fileURLToPath(import.meta.url)), "dist");
rmSync(dist, { recursive: true, force: true });
await build({ ...bundleOptions(dist), minify: true, legalComments: "eof", charset: "utf8", logLevel: "warning" });
copyStatic(dist);
console.log("console built into", dist);
