// The overview shows exactly what the API answers for the window in its URL: the tiles are
// GetMargin's totals, the chart's table GetCostSeries, the top customers GetMargin by customer
// ordered by cost, the attention counts GetNeedsAttention.
import { eventually, expectOverviewEqualsApi } from "./checks";
import { expect, figure, ready, shot, signIn, test, thisMonth, windowQuery, type Span } from "./fixtures";
import { CUSTOMERS } from "./workload";

test("the overview's figures equal the API's for this month", async ({ page }) => {
  await signIn(page, "publishable");
  const window = await expectOverviewEqualsApi(page);
  // The default window is this calendar month (UTC).
  const month = thisMonth();
  expect(window.start.toISOString()).toBe(month.start.toISOString());
  expect(window.end.toISOString()).toBe(month.end.toISOString());
  // The workload is in it: its customers have cost, and something waits for a price.
  await expect(page.locator(`[data-section="top-customers"] tr[data-customer="${CUSTOMERS.initech.id}"]`)).toBeVisible();
  expect(Number(await figure(page, "unpriced").getAttribute("data-value"))).toBeGreaterThan(0);
  await page.locator('[data-section="series"] details.chart-table summary').click();
  await shot(page, "overview");

  await page.setViewportSize({ width: 375, height: 800 });
  await ready(page, "overview");
  await shot(page, "overview-375");
});

test("the window and the bucket width come from the URL", async ({ page }) => {
  await signIn(page, "publishable");
  // The last three days by hour: the same figures as the API for that window.
  const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
  const start = new Date(end.getTime() - 72 * 3_600_000);
  const window = { start, end } as Span;
  await page.goto(`/?${windowQuery(window)}&granularity=hour`);
  const shown = await expectOverviewEqualsApi(page);
  expect(shown.start.toISOString()).toBe(start.toISOString());
  expect(shown.end.toISOString()).toBe(end.toISOString());
  await expect(page.locator('[data-section="series"] .chart-table tbody tr')).toHaveCount(72);

  // A bucket width link keeps the window.
  await page.locator('[data-section="series"] .segmented a', { hasText: "day" }).click();
  await expect(page).toHaveURL(/granularity=day/);
  await eventually(async () => {
    const again = await expectOverviewEqualsApi(page);
    expect(again.start.toISOString()).toBe(start.toISOString());
  });
});
