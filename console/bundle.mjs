// What the checked-in build (build.mjs) and the development server (dev.mjs) share: how the
// sources are bundled, and the static files beside the bundle.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));

/** esbuild's options for one script and one stylesheet under `out`/assets. */
export function bundleOptions(out) {
  return {
    entryPoints: { app: join(root, "src/main.tsx") },
    outdir: join(out, "assets"),
    bundle: true,
    format: "esm",
    target: "es2022",
    jsx: "automatic",
    jsxImportSource: "preact",
  };
}

/** Puts index.html and the icon into `out`. */
export function copyStatic(out) {
  mkdirSync(join(out, "assets"), { recursive: true });
  copyFileSync(join(root, "src/index.html"), join(out, "index.html"));
  copyFileSync(join(root, "src/favicon.svg"), join(out, "assets/favicon.svg"));
}
