// Each page's figures against the API's, shared by the page specs and the action specs.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Locator, Page } from "@playwright/test";
import { BudgetEnforcement, BudgetScopeKind, BudgetWindow, type Budget, type BudgetCheck } from "../src/gen/tally/v1/budgets_pb";
import { CostDimension, RunFlag, RunStatus, ServiceTier } from "../src/gen/tally/v1/common_pb";
import { PriceSource, type Price } from "../src/gen/tally/v1/pricing_pb";
import {
  MarginOrderBy,
  ReportDimension,
  TimeGranularity,
  type CostBucket,
  type DimensionFilterSchema,
  type GetNeedsAttentionResponse,
  type MarginRow,
  type RiskyAccount,
} from "../src/gen/tally/v1/reports_pb";
import { OutcomeValueKind, type Run } from "../src/gen/tally/v1/runs_pb";
import { expect, expectFigure, expectShown, figure, pageWindow, plainDecimal, readRows, ready, sk, type ShownRow, type Span } from "./fixtures";

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

// --- Customers ----------------------------------------------------------------------------------

const MARGIN_FIGURES = ["revenue", "cost", "margin", "margin-percent", "events", "unpriced"] as const;

function expectMarginRow(shown: ShownRow, row: MarginRow, what: string): void {
  expectShown(shown.cells.revenue, row.revenueUsd, `${what} revenue`);
  expectShown(shown.cells.cost, row.costUsd, `${what} cost`);
  expectShown(shown.cells.margin, row.marginUsd, `${what} margin`);
  expectShown(shown.cells["margin-percent"], row.marginPercent, `${what} margin %`);
  expectShown(shown.cells.events, row.eventCount, `${what} events`);
  expectShown(shown.cells.unpriced, row.unpricedEventCount, `${what} unpriced events`);
}

/**
 * The customers page's table (rows in order, and the totals row) against GetMargin by customer with
 * the order and filters the URL asks for.
 */
export async function expectCustomersEqualApi(
  page: Page,
  request: { orderBy: MarginOrderBy; descending: boolean; filters?: MessageInitShape<typeof DimensionFilterSchema>[] },
): Promise<Span> {
  const main = await ready(page, "customers");
  const window = await pageWindow(page);
  const margin = await sk.reports.getMargin({
    startTime: window.startTime,
    endTime: window.endTime,
    groupBy: [ReportDimension.CUSTOMER],
    filters: request.filters ?? [],
    orderBy: request.orderBy,
    descending: request.descending,
    pageSize: 25,
  });
  const section = main.locator('[data-section="customers"]');
  const rows = await readRows(section.locator("tbody tr[data-customer]"), [...MARGIN_FIGURES], "data-customer");
  expect(rows.map((row) => row.id), "customers, in the API's order").toEqual(margin.rows.map((row) => row.groupValues[0].value));
  for (const [index, row] of margin.rows.entries()) expectMarginRow(rows[index], row, row.groupValues[0].value);
  const [totals] = await readRows(section.locator("tfoot tr"), [...MARGIN_FIGURES]);
  expectMarginRow(totals, margin.totals!, "totals");
  return window;
}

/** The risky accounts against ListRiskyAccounts (threshold `risk`, negative margins included). */
export async function expectRiskyEqualApi(page: Page, risk = "50"): Promise<RiskyAccount[]> {
  const main = await ready(page, "customers");
  const window = await pageWindow(page);
  const { accounts } = await sk.reports.listRiskyAccounts({
    startTime: window.startTime,
    endTime: window.endTime,
    costShareThresholdPercent: risk,
    includeNegativeMargin: true,
    pageSize: 25,
  });
  const rowsLocator = main.locator('[data-section="risky"] tbody tr[data-customer]');
  const rows = await readRows(rowsLocator, ["revenue", "cost", "margin", "cost-percent-of-revenue", "events", "unpriced", "top-agent-cost", "top-model-cost"], "data-customer");
  expect(rows.map((row) => row.id), "risky accounts, worst first").toEqual(accounts.map((account) => account.customerId));
  for (const [index, account] of accounts.entries()) {
    const shown = rows[index].cells;
    const what = `risky ${account.customerId}`;
    expectShown(shown.revenue, account.revenueUsd, `${what} revenue`);
    expectShown(shown.cost, account.costUsd, `${what} cost`);
    expectShown(shown.margin, account.marginUsd, `${what} margin`);
    expectShown(shown["cost-percent-of-revenue"], account.costPercentOfRevenue, `${what} cost % of revenue`);
    expectShown(shown.events, account.eventCount, `${what} events`);
    if (account.unpricedEventCount > 0n) expectShown(shown.unpriced, account.unpricedEventCount, `${what} unpriced`);
    if (account.topAgentCode) expectShown(shown["top-agent-cost"], account.topAgentCostUsd, `${what} top agent cost`);
    if (account.topModel) expectShown(shown["top-model-cost"], account.topModelCostUsd, `${what} top model cost`);
    const reasons = await rowsLocator.nth(index).locator("[data-reason]").evaluateAll((items) => items.map((item) => item.getAttribute("data-reason")));
    expect(reasons.length, `${what} reasons`).toBe(account.reasons.length);
  }
  return accounts;
}

/** One customer's page against GetCustomer, GetMargin, GetCostSeries and ListTopRuns for it. */
export async function expectCustomerEqualsApi(page: Page, customerId: string): Promise<void> {
  const main = await ready(page, "customer");
  const window = await pageWindow(page);
  const span = { startTime: window.startTime, endTime: window.endTime };
  const only = [{ dimension: ReportDimension.CUSTOMER, values: [customerId] }];

  const { customer } = await sk.directory.getCustomer({ customerId });
  const card = main.locator('[data-section="customer"]');
  await expect(card.locator('[data-field="customer-id"]')).toHaveText(customerId);
  if (customer!.displayName) await expect(card.locator('[data-field="display-name"]')).toHaveText(customer!.displayName);
  await expect(card.locator('[data-field="plan"]')).toHaveAttribute("data-plan", customer!.plan?.name ?? "");
  if (customer!.plan) await expectFigure(figure(card.locator('[data-field="plan"]'), "plan-monthly"), customer!.plan.monthlyUsd, "plan now");
  const periods = await readRows(card.locator(".plan-history tbody tr"), ["plan-monthly"], "data-plan");
  expect(periods.map((period) => period.id), "plan history").toEqual(customer!.planHistory.map((period) => period.planName));
  customer!.planHistory.forEach((period, index) => expectShown(periods[index].cells["plan-monthly"], period.monthlyUsd, `plan period ${index}`));

  const { totals } = await sk.reports.getMargin({ ...span, filters: only });
  const figures = main.locator('[data-section="figures"]');
  const [shown] = await readRows(figures, [...MARGIN_FIGURES, "plan-revenue", "usage-revenue", "cost-percent-of-revenue", "runs"]);
  expectMarginRow(shown, totals!, customerId);
  expectShown(shown.cells["plan-revenue"], totals!.planRevenueUsd, "plan fees");
  expectShown(shown.cells["usage-revenue"], totals!.usageRevenueUsd, "usage revenue");
  expectShown(shown.cells["cost-percent-of-revenue"], totals!.costPercentOfRevenue, "cost % of revenue");
  if (totals!.runCountAvailable) expectShown(shown.cells.runs, totals!.runCount, "runs started");

  const series = await sk.reports.getCostSeries({ ...span, granularity: TimeGranularity.DAY, filters: only });
  await expectSeriesTable(main.locator('[data-section="series"]'), series.series[0]?.buckets ?? [], series.revenueAvailable);

  const { runs } = await sk.reports.listTopRuns({ ...span, customerId, limit: 10 });
  await expectRunsTable(main.locator('[data-section="top-runs"] tr[data-run]'), runs);

  const byAgent = await sk.reports.getMargin({ ...span, groupBy: [ReportDimension.AGENT], filters: only, orderBy: MarginOrderBy.COST, descending: true, pageSize: 100 });
  const agents = await readRows(main.locator('[data-section="by-agent"] tbody tr[data-agent]'), ["cost", "events", "unpriced"], "data-agent");
  expect(agents.map((row) => row.id), "cost by agent, most first").toEqual(byAgent.rows.map((row) => row.groupValues[0].value));
  byAgent.rows.forEach((row, index) => {
    expectShown(agents[index].cells.cost, row.costUsd, `agent ${row.groupValues[0].value} cost`);
    expectShown(agents[index].cells.events, row.eventCount, `agent ${row.groupValues[0].value} events`);
    expectShown(agents[index].cells.unpriced, row.unpricedEventCount, `agent ${row.groupValues[0].value} unpriced`);
  });

  const byModel = await sk.reports.getMargin({
    ...span,
    groupBy: [ReportDimension.PROVIDER, ReportDimension.MODEL],
    filters: only,
    orderBy: MarginOrderBy.COST,
    descending: true,
    pageSize: 100,
  });
  const models = await readRows(main.locator('[data-section="by-model"] tbody tr[data-model]'), ["cost", "events", "unpriced", "input-tokens", "output-tokens"], "data-model");
  const modelName = (row: MarginRow) => `${row.groupValues[0].value}/${row.groupValues[1].value}`;
  expect(models.map((row) => row.id), "cost by model, most first").toEqual(byModel.rows.map(modelName));
  byModel.rows.forEach((row, index) => {
    const what = `model ${modelName(row)}`;
    expectShown(models[index].cells.cost, row.costUsd, `${what} cost`);
    expectShown(models[index].cells.events, row.eventCount, `${what} events`);
    expectShown(models[index].cells.unpriced, row.unpricedEventCount, `${what} unpriced`);
    expectShown(models[index].cells["input-tokens"], row.tokens?.inputTokens ?? 0n, `${what} input tokens`);
    expectShown(models[index].cells["output-tokens"], row.tokens?.outputTokens ?? 0n, `${what} output tokens`);
  });
}

// --- Runs ---------------------------------------------------------------------------------------

/** A run's status as the console names it in `data-status`. */
export function statusKey(run: Run): string {
  if (run.status === RunStatus.RUNNING) return "running";
  if (run.status === RunStatus.COMPLETED) return "completed";
  if (run.status === RunStatus.FAILED) return run.cancelled ? "cancelled" : "failed";
  return "unknown";
}

const FLAG_KEYS: Record<number, string> = {
  [RunFlag.CONTEXT_BLOAT]: "context-bloat",
  [RunFlag.RUNAWAY_LOOP]: "runaway-loop",
  [RunFlag.BUDGET_EXCEEDED]: "budget-exceeded",
  [RunFlag.STALE]: "stale",
};

export function flagKeys(run: Run): string[] {
  return run.flags.map((flag) => FLAG_KEYS[flag.flag] ?? `flag-${flag.flag}`).sort();
}

/** A table of runs (`tr[data-run]`) against the API's runs, in order: figures, status, flags. */
export async function expectRunsTable(rowsLocator: Locator, runs: Run[]): Promise<void> {
  const rows = await readRows(rowsLocator, ["cost", "steps", "unpriced", "events"], "data-run");
  expect(rows.map((row) => row.id), "runs, in the API's order").toEqual(runs.map((run) => run.runId));
  const details = await rowsLocator.evaluateAll((elements) =>
    elements.map((element) => ({
      status: element.querySelector("[data-status]")?.getAttribute("data-status") ?? null,
      flags: [...element.querySelectorAll("[data-flag]")].map((flag) => flag.getAttribute("data-flag") ?? "").sort(),
    })),
  );
  runs.forEach((run, index) => {
    const shown = rows[index].cells;
    expectShown(shown.cost, run.totalCostUsd, `run ${run.runId} cost`);
    expectShown(shown.steps, run.stepCount, `run ${run.runId} steps`);
    expectShown(shown.unpriced, run.unpricedStepCount, `run ${run.runId} unpriced steps`);
    expectShown(shown.events, run.eventCount, `run ${run.runId} events`);
    expect(details[index].status, `run ${run.runId} status`).toBe(statusKey(run));
    expect(details[index].flags, `run ${run.runId} flags`).toEqual(flagKeys(run));
  });
}

/** One run's page against GetRun and ListEvents by run. */
export async function expectRunEqualsApi(page: Page, runId: string): Promise<Run> {
  const main = await ready(page, "run");
  const { run } = await sk.runs.getRun({ runId });
  const summary = main.locator('[data-section="run"]');
  const [tiles] = await readRows(summary, ["cost", "events", "steps", "unpriced"]);
  expectShown(tiles.cells.cost, run!.totalCostUsd, "run cost");
  expectShown(tiles.cells.events, run!.eventCount, "run events");
  expectShown(tiles.cells.steps, run!.stepCount, "run steps");
  expectShown(tiles.cells.unpriced, run!.unpricedStepCount, "run unpriced steps");
  await expect(summary.locator("[data-status]").first()).toHaveAttribute("data-status", statusKey(run!));
  if (run!.failureReason) await expect(summary).toContainText(run!.failureReason);
  await expect(summary.locator("[data-customer]").first()).toHaveAttribute("data-customer", run!.customer?.id ?? "");
  await expect(summary.locator("[data-agent]").first()).toHaveAttribute("data-agent", run!.agentCode);

  const models = await readRows(main.locator('[data-section="models"] tbody tr[data-model]'), ["cost", "steps", "unpriced", "input-tokens", "output-tokens"], "data-model");
  expect(models.map((row) => row.id), "cost by model, as GetRun orders it").toEqual(run!.modelCosts.map((model) => `${model.provider}/${model.model}`));
  run!.modelCosts.forEach((model, index) => {
    const what = `model ${model.provider}/${model.model}`;
    expectShown(models[index].cells.cost, model.costUsd, `${what} cost`);
    expectShown(models[index].cells.steps, model.stepCount, `${what} steps`);
    expectShown(models[index].cells.unpriced, model.unpricedStepCount, `${what} unpriced steps`);
    expectShown(models[index].cells["input-tokens"], model.tokens?.inputTokens ?? 0n, `${what} input tokens`);
    expectShown(models[index].cells["output-tokens"], model.tokens?.outputTokens ?? 0n, `${what} output tokens`);
  });

  const outcomes = await readRows(main.locator('[data-section="outcomes"] tbody tr[data-outcome]'), ["outcome-value", "outcome-units"], "data-outcome");
  expect(outcomes.map((row) => row.id), "outcomes, oldest first").toEqual(run!.outcomes.map((outcome) => outcome.name));
  run!.outcomes.forEach((outcome, index) => {
    const what = `outcome ${outcome.name}`;
    if (!outcome.value) expect(outcomes[index].cells["outcome-value"] ?? outcomes[index].cells["outcome-units"], `${what} has no value`).toBeNull();
    else if (outcome.valueKind === OutcomeValueKind.USD) expectShown(outcomes[index].cells["outcome-value"], outcome.value, `${what} value`);
    else expectShown(outcomes[index].cells["outcome-units"], outcome.value, `${what} units`);
  });

  const flags = await main.locator('[data-section="flags"] [data-flag]').evaluateAll((items) => items.map((item) => item.getAttribute("data-flag") ?? "").sort());
  expect(flags, "flags").toEqual(flagKeys(run!));

  const { events } = await sk.ingest.listEvents({ runId, pageSize: 50 });
  const eventRows = main.locator('[data-section="events"] tbody tr[data-event]');
  const shownEvents = await readRows(eventRows, ["cost"], "data-event");
  expect(shownEvents.map((row) => row.id), "events, newest first").toEqual(events.map((event) => event.eventId));
  for (const [index, event] of events.entries()) {
    expectShown(shownEvents[index].cells.cost, event.totalCostUsd, `event ${event.eventId} cost`);
    const lines = await readRows(eventRows.nth(index).locator("[data-line]"), ["line-cost", "input-tokens", "output-tokens"], "data-line");
    expect(lines.map((line) => line.id), `event ${event.eventId} lines`).toEqual(event.lines.map((line) => String(line.index)));
    event.lines.forEach((line, at) => {
      const what = `event ${event.eventId} line ${line.index}`;
      // A single line's cost is the event's, shown once.
      if (event.lines.length > 1) expectShown(lines[at].cells["line-cost"], line.costUsd, `${what} cost`);
      if (line.usage?.inputTokens !== undefined) expectShown(lines[at].cells["input-tokens"], line.usage.inputTokens, `${what} input tokens`);
      if (line.usage?.outputTokens !== undefined) expectShown(lines[at].cells["output-tokens"], line.usage.outputTokens, `${what} output tokens`);
    });
  }
  return run!;
}

// --- Needs attention ----------------------------------------------------------------------------

/** The attention page against GetNeedsAttention and ListUnpricedModels (all time, or its window). */
export async function expectAttentionEqualsApi(page: Page): Promise<GetNeedsAttentionResponse> {
  const main = await ready(page, "attention");
  const params = new URL(page.url()).searchParams;
  const span = params.has("start") && params.has("end") ? await pageWindow(page) : null;
  const range = span ? { startTime: span.startTime, endTime: span.endTime } : {};
  const needs = await sk.reports.getNeedsAttention(range);
  const [counts] = await readRows(main.locator('[data-section="counts"]'), ["unpriced", "missing-volume", "tier-price-missing"]);
  expectShown(counts.cells.unpriced, needs.unpricedEventCount, "events waiting for a price");
  expectShown(counts.cells["missing-volume"], needs.missingVolumeEventCount, "events missing volume");
  expectShown(counts.cells["tier-price-missing"], needs.tierPriceMissingEventCount, "events billed without their tier's price");

  const { unpricedModels } = await sk.pricing.listUnpricedModels({ ...range, pageSize: 100 });
  const models = await readRows(main.locator('[data-section="unpriced"] tbody tr[data-model]'), ["events", "customers"], "data-model");
  expect(models.map((row) => row.id), "unpriced models, most events first").toEqual(unpricedModels.map((model) => `${model.provider}/${model.model}`));
  unpricedModels.forEach((model, index) => {
    expectShown(models[index].cells.events, model.eventCount, `${model.provider}/${model.model} events`);
    expectShown(models[index].cells.customers, model.customerCount, `${model.provider}/${model.model} customers`);
  });

  const groupsLocator = main.locator('[data-section="missing-volume"] tbody tr[data-model]');
  const groups = await readRows(groupsLocator, ["events"], "data-model");
  expect(groups.map((row) => row.id), "missing-volume groups").toEqual(needs.missingVolume.map((group) => `${group.provider}/${group.model}`));
  for (const [index, group] of needs.missingVolume.entries()) {
    expectShown(groups[index].cells.events, group.eventCount, `missing volume ${group.agentCode} ${group.provider}/${group.model}`);
    await expect(groupsLocator.nth(index)).toHaveAttribute("data-agent", group.agentCode);
    const samples = await groupsLocator.nth(index).locator("li[data-event]").evaluateAll((items) => items.map((item) => item.getAttribute("data-event")));
    expect(samples, "sample events").toEqual(group.sampleEventIds);
  }

  const tiers = await readRows(main.locator('[data-section="tier-price-missing"] tbody tr[data-model]'), ["events"], "data-model");
  expect(tiers.map((row) => row.id), "tier-price-missing groups").toEqual(needs.tierPriceMissing.map((group) => `${group.provider}/${group.model}`));
  needs.tierPriceMissing.forEach((group, index) => expectShown(tiers[index].cells.events, group.eventCount, `tier price missing ${group.provider}/${group.model}`));
  return needs;
}

// --- Budgets ------------------------------------------------------------------------------------

/** Every budget, oldest first, as ListBudgets pages them. */
export async function allBudgets(): Promise<Budget[]> {
  const budgets: Budget[] = [];
  let pageToken = "";
  do {
    const answer = await sk.budgets.listBudgets({ pageSize: 100, pageToken });
    budgets.push(...answer.budgets);
    pageToken = answer.nextPageToken;
  } while (pageToken);
  return budgets;
}

/** How CheckBudget counts a budget's month now (a check whose customer and agent it covers). */
async function monthCheck(budget: Budget): Promise<BudgetCheck | undefined> {
  const scope = budget.scope!;
  const { checks } = await sk.budgets.checkBudget({ customerId: scope.customerId || "e2e-budget-probe", agentCode: scope.agentCode || "e2e-budget-probe" });
  return checks.find((check) => check.budget?.budgetId === budget.budgetId && check.window === BudgetWindow.MONTH);
}

const SCOPE_KEYS: Record<number, string> = {
  [BudgetScopeKind.PROJECT]: "project",
  [BudgetScopeKind.CUSTOMER]: "customer",
  [BudgetScopeKind.AGENT]: "agent",
  [BudgetScopeKind.CUSTOMER_AGENT]: "customer-agent",
};

/**
 * The budgets page against ListBudgets (limits, this month's spend and holds) and CheckBudget (the
 * room left, which the page works out as limit − spent − held).
 */
export async function expectBudgetsEqualApi(page: Page): Promise<Budget[]> {
  const main = await ready(page, "budgets");
  const budgets = await allBudgets();
  const rowsLocator = main.locator('[data-section="budgets"] tbody tr[data-budget]');
  const rows = await readRows(rowsLocator, ["limit", "per-run-limit", "spend", "held", "remaining"], "data-budget");
  expect(rows.map((row) => row.id), "budgets, oldest first").toEqual(budgets.map((budget) => budget.budgetId));
  for (const [index, budget] of budgets.entries()) {
    const shown = rows[index].cells;
    const what = `budget ${budget.name}`;
    const row = rowsLocator.nth(index);
    await expect(row.locator("td.name")).toHaveText(budget.name);
    await expect(row).toHaveAttribute("data-scope", SCOPE_KEYS[budget.scope!.kind]);
    await expect(row.locator("[data-enforcement]")).toHaveAttribute("data-enforcement", budget.enforcement === BudgetEnforcement.BLOCK ? "block" : "alert");
    if (budget.monthlyLimitUsd) {
      expectShown(shown.limit, budget.monthlyLimitUsd, `${what} monthly limit`);
      expectShown(shown.spend, budget.monthSpentUsd, `${what} spent this month`);
      expectShown(shown.held, budget.monthHeldUsd, `${what} held`);
      const check = await monthCheck(budget);
      expect(check, `${what}: CheckBudget has its month`).toBeTruthy();
      expect(plainDecimal(check!.limitUsd)).toBe(plainDecimal(budget.monthlyLimitUsd));
      expect(plainDecimal(check!.spentUsd), `${what}: CheckBudget's spend is ListBudgets'`).toBe(plainDecimal(budget.monthSpentUsd));
      expectShown(shown.remaining, check!.remainingUsd, `${what} remaining (CheckBudget)`);
    } else {
      expect(shown.limit, `${what} shows no monthly limit`).toBeNull();
      expect(shown.remaining, `${what} shows no remaining`).toBeNull();
    }
    if (budget.perRunLimitUsd) expectShown(shown["per-run-limit"], budget.perRunLimitUsd, `${what} per-run limit`);
    else expect(shown["per-run-limit"], `${what} shows no per-run limit`).toBeNull();
  }
  return budgets;
}

// --- Prices -------------------------------------------------------------------------------------

/**
 * The prices page's catalog table for search `query` ("provider/model-prefix"): one row per model
 * ListPrices returns, its number of price rows, and each dimension's standard price in force now
 * equal to what GetPrice says prices an event of that model now.
 */
export async function expectCatalogEqualsApi(page: Page, provider: string, modelPrefix: string): Promise<Price[]> {
  const main = await ready(page, "prices");
  const { prices } = await sk.pricing.listPrices({ provider, modelPrefix, pageSize: 500 });
  const models = [...new Set(prices.map((price) => `${price.provider}/${price.model}`))];
  const rowsLocator = main.locator('[data-section="catalog"] tbody tr[data-price]');
  const rows = await readRows(rowsLocator, ["price-rows"], "data-price");
  expect(rows.map((row) => row.id), "one row per model, in ListPrices' order").toEqual(models);
  for (const [index, key] of models.entries()) {
    const [rowProvider, ...rest] = key.split("/");
    const model = rest.join("/");
    expectShown(rows[index].cells["price-rows"], prices.filter((price) => `${price.provider}/${price.model}` === key).length, `${key} price rows`);
    const answer = await sk.pricing.getPrice({ provider: rowProvider, model });
    const standard = answer.prices.filter(
      (price) => (price.serviceTier === ServiceTier.STANDARD || price.serviceTier === ServiceTier.UNSPECIFIED) && price.longContextThresholdTokens === undefined,
    );
    const cells = await rowsLocator.nth(index).locator("td[data-dimension]").evaluateAll((tds) =>
      tds.map((td) => {
        const figure = td.querySelector('[data-figure="unit-price"]');
        return { dimension: td.getAttribute("data-dimension") ?? "", text: figure?.textContent ?? null, value: figure?.getAttribute("data-value") ?? null };
      }),
    );
    for (const cell of cells) {
      const price = standard.find((candidate) => CostDimension[candidate.dimension].toLowerCase() === cell.dimension);
      if (!price) {
        expect(cell.text, `${key} ${cell.dimension}: GetPrice has no standard price now, the page shows one`).toBeNull();
        continue;
      }
      expectShown(cell.text === null ? null : { text: cell.text, value: cell.value }, price.unitPriceUsd, `${key} ${cell.dimension} (GetPrice)`);
    }
    const shownDimensions = cells.filter((cell) => cell.text !== null).map((cell) => cell.dimension).sort();
    expect(shownDimensions, `${key}: dimensions priced now`).toEqual(standard.map((price) => CostDimension[price.dimension].toLowerCase()).sort());
  }
  return prices;
}

/** The project's own prices, mappings and signal prices against ListPrices, ListModelMappings, ListSignalPrices. */
export async function expectProjectPricingEqualsApi(page: Page): Promise<void> {
  const main = await ready(page, "prices");
  const own = await sk.pricing.listPrices({ source: PriceSource.PROJECT, pageSize: 100 });
  const ownRows = await readRows(main.locator('[data-section="own-prices"] tbody tr[data-price-id]'), ["unit-price"], "data-price-id");
  expect(ownRows.map((row) => row.id), "the project's own prices").toEqual(own.prices.map((price) => price.priceId));
  own.prices.forEach((price, index) => expectShown(ownRows[index].cells["unit-price"], price.unitPriceUsd, `own price ${price.provider}/${price.model}`));

  const { mappings } = await sk.pricing.listModelMappings({ pageSize: 100 });
  const mappingRows = main.locator('[data-section="mappings"] tbody tr[data-mapping]');
  const shownMappings = await mappingRows.evaluateAll((rows) => rows.map((row) => [row.getAttribute("data-mapping"), row.getAttribute("data-target")]));
  expect(shownMappings, "model mappings").toEqual(mappings.map((mapping) => [`${mapping.fromProvider}/${mapping.fromModel}`, `${mapping.toProvider}/${mapping.toModel}`]));

  const { signalPrices } = await sk.pricing.listSignalPrices({ pageSize: 100 });
  const signals = await readRows(main.locator('[data-section="signal-prices"] tbody tr[data-signal-price]'), ["signal-price"], "data-signal-price");
  expect(signals.map((row) => row.id), "signal prices").toEqual(signalPrices.map((price) => `${price.planName}/${price.signalName}`));
  signalPrices.forEach((price, index) => expectShown(signals[index].cells["signal-price"], price.unitPriceUsd, `signal price ${price.planName}/${price.signalName}`));
}
