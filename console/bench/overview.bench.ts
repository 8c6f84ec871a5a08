// Times opening the overview in headless Chromium: from the navigation's start to the page's
// `data-state="ready"` (the tiles, the chart, top customers and the attention counts on screen),
// a full page load each time. The baseline, in the same run: the overview's four calls sent from
// Node over gRPC (HTTP/2), concurrently as the page sends them, with the same key and window.
//
//   TALLY_URL=… TALLY_KEY=pk_… BENCH_START=… BENCH_END=… [BENCH_LOADS=15] playwright test -c console/bench/playwright.config.ts
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { test } from "@playwright/test";
import { MarginOrderBy, ReportDimension, Reports, TimeGranularity } from "../src/gen/tally/v1/reports_pb";

const base = required("TALLY_URL");
const key = required("TALLY_KEY");
const start = new Date(required("BENCH_START"));
const end = new Date(required("BENCH_END"));
const loads = Number(process.env.BENCH_LOADS ?? 15);

declare global {
  interface Window {
    __readyAt?: number;
    __failed?: string;
  }
}

test("overview over the loaded events", async ({ page }) => {
  page.on("pageerror", (error) => console.error("page error:", error.message));
  // Noted by the page itself the moment the overview turns ready, so polling adds nothing.
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      const main = document.querySelector('main[data-page="overview"]');
      const state = main?.getAttribute("data-state");
      if (state === "ready") window.__readyAt = performance.now();
      if (state === "error") window.__failed = main?.textContent ?? "";
      if (state === "ready" || state === "error") observer.disconnect();
    }).observe(document, { subtree: true, childList: true, attributes: true });
  });
  await page.goto(base);
  await page.fill("#key", key);
  await page.click('button[type="submit"]');
  await page.waitForSelector("nav.nav");

  const url = `${base}/?start=${start.toISOString()}&end=${end.toISOString()}`;
  const pageTimes: number[] = [];
  for (let load = 0; load <= loads; load++) {
    await page.goto(url);
    await page.waitForFunction(() => window.__readyAt !== undefined || window.__failed !== undefined, null, { timeout: 60_000 });
    const failed = await page.evaluate(() => window.__failed);
    if (failed) throw new Error(`the overview failed: ${failed}`);
    // The first load warms the browser's cache and the server's statements.
    if (load > 0) pageTimes.push(await page.evaluate(() => window.__readyAt!));
  }
  const events = await page.textContent('[data-figure="events"]');

  const reports = createClient(Reports, createGrpcTransport({ baseUrl: base, httpVersion: "2" }));
  const headers = { authorization: `Bearer ${key}` };
  const span = { startTime: timestampFromDate(start), endTime: timestampFromDate(end) };
  const apiTimes: number[] = [];
  for (let run = 0; run <= loads; run++) {
    const began = performance.now();
    await Promise.all([
      reports.getMargin(span, { headers }),
      reports.getCostSeries({ ...span, granularity: TimeGranularity.DAY }, { headers }),
      reports.getMargin(
        { ...span, groupBy: [ReportDimension.CUSTOMER], orderBy: MarginOrderBy.COST, descending: true, pageSize: 5 },
        { headers },
      ),
      reports.getNeedsAttention({ ...span, countsOnly: true }, { headers }),
    ]);
    if (run > 0) apiTimes.push(performance.now() - began);
  }

  console.log(`events on screen: ${events}`);
  console.log(`overview ready:        ${summary(pageTimes)}`);
  console.log(`its four calls (Node): ${summary(apiTimes)}`);
  console.log(`overview / calls (medians): ${(median(pageTimes) / median(apiTimes)).toFixed(2)}`);
});

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function summary(values: number[]): string {
  return `median ${median(values).toFixed(0)} ms, min ${Math.min(...values).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms over ${values.length} loads`;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}
