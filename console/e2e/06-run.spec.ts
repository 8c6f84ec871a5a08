// A run's page: totals, cost per model, outcomes, flags and every event with its lines, equal to
// GetRun's and ListEvents'.
import { expectRunEqualsApi } from "./checks";
import { expect, ready, shot, signIn, test } from "./fixtures";
import { RUNS } from "./workload";

test("a run reached from the runs page equals GetRun's", async ({ page }) => {
  await signIn(page, "publishable", "/runs");
  await ready(page, "runs");
  await page.locator(`tr[data-run="${RUNS.complete}"] a[href^="/runs/"]`).click();
  await expect(page).toHaveURL(new RegExp(`/runs/${RUNS.complete}$`));
  const run = await expectRunEqualsApi(page, RUNS.complete);
  expect(run.outcomes.length).toBe(2);
  await shot(page, "run");
});

test("every seeded run's page equals GetRun's", async ({ page }) => {
  await signIn(page, "publishable");
  for (const id of [RUNS.failed, RUNS.bloat, RUNS.implicit]) {
    await page.goto(`/runs/${encodeURIComponent(id)}`);
    await expectRunEqualsApi(page, id);
  }
  await page.goto(`/runs/${RUNS.bloat}`);
  await ready(page, "run");
  await expect(page.locator('[data-section="flags"] [data-flag="context-bloat"]')).toBeVisible();
  await shot(page, "run-flagged");
});

test("an unknown run says so", async ({ page }) => {
  await signIn(page, "publishable", "/runs/e2e-no-such-run");
  await expect(page.locator('main[data-page="run"] [data-not-found="e2e-no-such-run"]')).toBeVisible();
});
