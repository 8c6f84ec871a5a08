// The console's benchmark (BENCHMARKS.md, "Console"): run by scripts/console-bench.sh.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: "*.bench.ts",
  timeout: 10 * 60_000,
  workers: 1,
  reporter: "list",
  outputDir: "../e2e/results",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
  },
});
