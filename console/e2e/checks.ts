// Each page's figures against the API's, shared by the page specs and the action specs.
import type { Locator, Page } from "@playwright/test";
import { MarginOrderBy, ReportDimension, TimeGranularity, type CostBucket } from "../src/gen/tally/v1/reports_pb";
import { expect, expectFigure, expectShown, figure, pageWindow, readRows, ready, sk, type Span } from "./fixtures";

const GRANULARITY = { hour: TimeGranularity.HOUR, day: TimeGranularity.DAY, month: TimeGranularity.MONTH } as const;

/**
 * Runs `check` until it passes (15 s at most): after a navigation or an action the page re-renders
 * once its calls answer, and a check may read it just before.
 */
export async function eventually(check: () => Promise<unknown>, timeout = 15_000): Promise<void> {
  await expect(async () => {
    await check();
  }).toPass({ timeout, intervals: [100, 250, 500, 1000] });
}

/** Every figure of the overview against the API, for the window the page shows. */
export async function expectOverviewEqualsApi(page: Page): Promise<Span> {
  const main = await ready(page, "overview");
  const window = await pageWindow(page);
  const granularity = (new URL(page.url()).searchParams.get("granularity") ?? "day") as keyof typeof GRANULARITY;

  const { totals } = await sk.reports.getMargin({ startTime: window.startTime, endTime: window.endTime });
  expect(totals, "GetMargin has totals").toBeTruthy();
  const tiles = main.locator('[data-section="totals"]');
  await expectFigure(figure(tiles, "revenue"), totals!.revenueUsd, "revenue tile");
  await expectFigure(figure(tiles, "cost"), totals!.costUsd, "cost tile");
  await expectFigure(figure(tiles, "margin"), totals!.marginUsd, "margin tile");
  await expectFigure(figure(tiles, "margin-percent"), totals!.marginPercent, "margin % tile");
  await expectFigure(figure(tiles, "events"), totals!.eventCount, "events tile");

  const series = await sk.reports.getCostSeries({ startTime: window.startTime, endTime: window.endTime, granularity: GRANULARITY[granularity] });
  await expectSeriesTable(main.locator('[data-section="series"]'), series.series[0]?.buckets ?? [], series.revenueAvailable);

  const top = await sk.reports.getMargin({
    startTime: window.startTime,
    endTime: window.endTime,
    groupBy: [ReportDimension.CUSTOMER],
    orderBy: MarginOrderBy.COST,
    descending: true,
    pageSize: 5,
  });
  const customers = await readRows(main.locator('[data-section="top-customers"] tr[data-customer]'), ["cost", "revenue", "margin"], "data-customer");
  expect(customers.map((row) => row.id), "top customers, in order").toEqual(top.rows.map((row) => row.groupValues[0].value));
  for (const [index, row] of top.rows.entries()) {
    const id = row.groupValues[0].value;
    expectShown(customers[index].cells.cost, row.costUsd, `${id} cost`);
    expectShown(customers[index].cells.revenue, row.revenueUsd, `${id} revenue`);
    expectShown(customers[index].cells.margin, row.marginUsd, `${id} margin`);
  }
  for (const row of top.rows) {
    const name = row.groupValues[0].displayName || row.groupValues[0].value;
    await expect(main.locator(`[data-section="top-customers"] tr[data-customer="${row.groupValues[0].value}"]`)).toContainText(name);
  }

  await expectAttentionCounts(main.locator('[data-section="attention"]'), window);
  return window;
}

export async function expectAttentionCounts(scope: Locator, window: Span): Promise<void> {
  const needs = await sk.reports.getNeedsAttention({ startTime: window.startTime, endTime: window.endTime });
  await expectFigure(figure(scope, "unpriced"), needs.unpricedEventCount, "unpriced events");
  await expectFigure(figure(scope, "missing-volume"), needs.missingVolumeEventCount, "events missing volume");
  await expectFigure(figure(scope, "tier-price-missing"), needs.tierPriceMissingEventCount, "events missing a tier price");
}


/** A chart's table of figures (`<TimeChart>`) against the API's buckets, row by row. */
export async function expectSeriesTable(scope: Locator, buckets: CostBucket[], revenueAvailable: boolean): Promise<void> {
  const rows = await readRows(scope.locator(".chart-table tbody tr"), { cost: '[data-series="cost"]', revenue: '[data-series="revenue"]' });
  expect(rows.length, "rows of the chart's table").toBe(buckets.length);
  for (const [index, bucket] of buckets.entries()) {
    expectShown(rows[index].cells.cost, bucket.costUsd, `cost of bucket ${index}`);
    if (revenueAvailable) expectShown(rows[index].cells.revenue, bucket.revenueUsd, `revenue of bucket ${index}`);
    else expect(rows[index].cells.revenue, `bucket ${index} shows revenue the API does not give`).toBeNull();
  }
}
