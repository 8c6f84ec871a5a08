// The console's end-to-end tests: headless Chromium (the system's, not a downloaded one) against a
// running Tally server. `scripts/console-e2e.sh` starts the server and sets the environment; by hand:
//
//   TALLY_URL=http://127.0.0.1:PORT TALLY_SK=sk_… TALLY_PK=pk_… npm run console:e2e
//
// TALLY_URL is where the browser opens the console (the server itself, or `console/dev.mjs` in front
// of it); TALLY_GRPC_URL is where the tests' own gRPC clients call the server (default TALLY_URL).
// TALLY_BACKEND names the screenshot folder (console/e2e/screenshots/<backend>/). To test console/src
// as it is now, without rebuilding the server (dev.mjs sends no CSP header, so CSP is only tested
// against the server):
//
//   TALLY_URL=http://127.0.0.1:50051 node console/dev.mjs 5173 &
//   TALLY_URL=http://127.0.0.1:5173 TALLY_GRPC_URL=http://127.0.0.1:50051 TALLY_SK=… TALLY_PK=… \
//     npm run console:e2e [-- 02-overview]
//
// Use a fresh database: the specs expect the seeded workload to be what the server holds (a second
// session against the same server works; other data, such as tally-bench's, may push the workload's
// customers off the first pages).
//
// The specs change shared data in order (the workload is seeded once, then actions map a model,
// fill a volume, make and delete a budget), so they run one at a time, file by file, in the order
// of their numbered names.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: /\/\d\d-[^/]*\.spec\.ts$/,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: "results",
  reporter: "list",
  globalSetup: "./global-setup.ts",
  use: {
    browserName: "chromium",
    baseURL: process.env.TALLY_URL,
    headless: true,
    viewport: { width: 1280, height: 800 },
    // A zone away from UTC: windows, buckets and budgets' months are UTC whatever the viewer's zone.
    locale: "en-US",
    timezoneId: "America/New_York",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium" },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
