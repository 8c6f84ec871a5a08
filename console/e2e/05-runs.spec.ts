// The runs page: the most expensive runs equal ListTopRuns', every run with its filters equals
// ListRuns', with status and flags as the API gives them.
import { RunFlag, RunStatus } from "../src/gen/tally/v1/common_pb";
import { RunOrderBy } from "../src/gen/tally/v1/runs_pb";
import { eventually, expectRunsTable } from "./checks";
import { expect, pageWindow, ready, shot, signIn, sk, test } from "./fixtures";
import { RUNS } from "./workload";

const ROWS = '[data-section="runs"] tr[data-run]';

test("the most expensive runs equal ListTopRuns'", async ({ page }) => {
  await signIn(page, "publishable");
  await page.getByRole("link", { name: "Runs", exact: true }).click();
  await ready(page, "runs");
  const window = await pageWindow(page);
  const { runs } = await sk.reports.listTopRuns({ startTime: window.startTime, endTime: window.endTime, limit: 25 });
  await expectRunsTable(page.locator(ROWS), runs);
  for (const id of Object.values(RUNS)) expect(runs.map((run) => run.runId)).toContain(id);
  await shot(page, "runs");
});

test("every run, filtered by status and flag, equals ListRuns'", async ({ page }) => {
  await signIn(page, "publishable", "/runs");
  await ready(page, "runs");
  await page.locator('a[data-view="all"]').click();
  await expect(page).toHaveURL(/view=all/);
  const window = await pageWindow(page);
  const list = (extra: Parameters<typeof sk.runs.listRuns>[0] = {}) =>
    sk.runs.listRuns({ startTime: window.startTime, endTime: window.endTime, orderBy: RunOrderBy.START_TIME, descending: true, pageSize: 25, ...extra });
  await eventually(async () => expectRunsTable(page.locator(ROWS), (await list()).runs));

  await page.getByLabel("Status").selectOption("failed");
  await expect(page).toHaveURL(/status=failed/);
  await eventually(async () => {
    const { runs } = await list({ status: RunStatus.FAILED });
    expect(runs.map((run) => run.runId)).toEqual([RUNS.failed]);
    await expectRunsTable(page.locator(ROWS), runs);
  });

  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("Flag").selectOption("context-bloat");
  await expect(page).toHaveURL(/flag=context-bloat/);
  await eventually(async () => {
    const { runs } = await list({ flag: RunFlag.CONTEXT_BLOAT });
    expect(runs.map((run) => run.runId)).toContain(RUNS.bloat);
    await expectRunsTable(page.locator(ROWS), runs);
  });
  await shot(page, "runs-filtered");

  // Sorted by cost, most first.
  await page.locator('[data-action="clear-filters"]').click();
  await page.locator('button[data-sort="cost"]').click();
  await expect(page).toHaveURL(/sort=cost/);
  await eventually(async () => expectRunsTable(page.locator(ROWS), (await list({ orderBy: RunOrderBy.COST, descending: true })).runs));
});
