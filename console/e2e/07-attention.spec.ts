// Needs attention: the counts and lists equal the API's; a publishable key sees the actions
// disabled and the server refuses them (PERMISSION_DENIED); with a secret key, mapping the unknown
// model and filling the missing volume through the page move the figures here and on the overview
// exactly as the API says.
import { EventStatus } from "../src/gen/tally/v1/common_pb";
import { expectAttentionEqualsApi, expectOverviewEqualsApi } from "./checks";
import { Code, expect, expectFigure, figure, ready, refusal, shot, signIn, pk, sk, subtractDecimal, test, thisMonth, windowQuery } from "./fixtures";
import { FILL, MAP_TARGET, session } from "./workload";

const NEEDS_SECRET_KEY = "Needs a secret key (sk_)";

test("the counts and lists equal GetNeedsAttention's and ListUnpricedModels'", async ({ page }) => {
  const { unknown, missingVolume } = session();
  await signIn(page, "publishable");
  // From the overview's link: the overview's window.
  await ready(page, "overview");
  await page.getByRole("link", { name: "Resolve them" }).click();
  await expect(page).toHaveURL(/\/attention\?.*start=/);
  await expectAttentionEqualsApi(page);

  // All time (the page's own default).
  await page.goto("/attention");
  const needs = await expectAttentionEqualsApi(page);
  await expect(page.locator(`[data-section="unpriced"] tr[data-model="${unknown.provider}/${unknown.model}"]`)).toBeVisible();
  await expect(page.locator(`[data-section="missing-volume"] li[data-event="${missingVolume.eventId}"]`)).toBeVisible();
  expect(needs.tierPriceMissingEventCount).toBeGreaterThan(0n);
  await shot(page, "attention");
});

test("a publishable key sees the actions disabled, and the server refuses them", async ({ page }) => {
  const { unknown, missingVolume } = session();
  await signIn(page, "publishable", "/attention");
  await ready(page, "attention");
  await expect(page.locator("[data-read-only]")).toBeVisible();
  const buttons = page.locator('[data-action="map"], [data-action="fill"]');
  expect(await buttons.count()).toBeGreaterThanOrEqual(2);
  for (const button of await buttons.all()) {
    await expect(button).toBeDisabled();
    await expect(button).toHaveAttribute("title", NEEDS_SECRET_KEY);
  }
  await shot(page, "attention-read-only");

  const mapped = await refusal(() =>
    pk.pricing.mapModel({ fromProvider: unknown.provider, fromModel: unknown.model, toProvider: MAP_TARGET.provider, toModel: MAP_TARGET.model }),
  );
  expect(mapped.code, `MapModel with a pk key: ${mapped.message}`).toBe(Code.PermissionDenied);
  const filled = await refusal(() => pk.ingest.fillVolume({ eventId: missingVolume.eventId, inputTokens: FILL.inputTokens, outputTokens: FILL.outputTokens }));
  expect(filled.code, `FillVolume with a pk key: ${filled.message}`).toBe(Code.PermissionDenied);
  // Nothing changed.
  const { unpricedModels } = await sk.pricing.listUnpricedModels({ pageSize: 100 });
  expect(unpricedModels.map((model) => model.model)).toContain(unknown.model);
  expect((await sk.ingest.getEvent({ eventId: missingVolume.eventId })).event?.status).toBe(EventStatus.MISSING_VOLUME_DATA);
});

test("mapping the unknown model through the page prices its events everywhere", async ({ page }) => {
  const { unknown } = session();
  const source = `${unknown.provider}/${unknown.model}`;
  const target = `${MAP_TARGET.provider}/${MAP_TARGET.model}`;
  const month = thisMonth();
  const before = {
    needs: await sk.reports.getNeedsAttention({}),
    margin: (await sk.reports.getMargin({ startTime: month.startTime, endTime: month.endTime })).totals!,
    parked: (await sk.pricing.listUnpricedModels({ pageSize: 100 })).unpricedModels.find((model) => model.model === unknown.model)!,
  };
  expect(before.parked, `${source} is unpriced`).toBeTruthy();

  await signIn(page, "secret", "/attention");
  await ready(page, "attention");
  const row = page.locator(`[data-section="unpriced"] tr[data-model="${source}"]`);
  await row.locator('[data-action="map"]').click();
  const form = page.locator(`form[data-form="map"][data-model="${source}"]`);
  await form.getByLabel("Search the catalog").fill(MAP_TARGET.model);
  await expect(form.locator(`option[value="${target}"]`)).toHaveCount(1);
  await form.getByLabel(`Catalog model for ${source}`).selectOption(target);
  await shot(page, "attention-map");
  await form.locator('[data-action="confirm-map"]').click();

  const notice = page.locator(`.notice [data-outcome="mapped"][data-model="${source}"]`);
  await expect(notice).toBeVisible();
  await expect(notice).toHaveAttribute("data-target", target);
  await expectFigure(figure(notice, "repriced"), before.parked.eventCount, "events repriced");
  const needs = await expectAttentionEqualsApi(page);
  await expect(row).toHaveCount(0);
  expect(needs.unpricedEventCount, "unpriced events went down by those repriced").toBe(before.needs.unpricedEventCount - before.parked.eventCount);

  // The event has its cost now, and this month's cost went up by exactly that.
  const event = (await sk.ingest.getEvent({ eventId: unknown.eventId })).event!;
  expect(event.status).toBe(EventStatus.PROCESSED);
  expect(event.lines[0].pricedModel).toBe(MAP_TARGET.model);
  const margin = (await sk.reports.getMargin({ startTime: month.startTime, endTime: month.endTime })).totals!;
  expect(subtractDecimal(margin.costUsd, before.margin.costUsd), "cost went up by the event's cost").toBe(subtractDecimal(event.totalCostUsd, "0"));
  expect(margin.unpricedEventCount).toBe(before.margin.unpricedEventCount - before.parked.eventCount);
  await shot(page, "attention-mapped");

  // The overview shows the new figures.
  await page.goto(`/?${windowQuery(month)}`);
  await expectOverviewEqualsApi(page);
  await expectFigure(figure(page.locator('[data-section="totals"]'), "cost"), margin.costUsd, "overview cost after the mapping");
});

test("filling the missing volume through the page prices the event everywhere", async ({ page }) => {
  const { missingVolume } = session();
  const month = thisMonth();
  const before = {
    needs: await sk.reports.getNeedsAttention({}),
    margin: (await sk.reports.getMargin({ startTime: month.startTime, endTime: month.endTime })).totals!,
  };

  await signIn(page, "secret", "/attention");
  await ready(page, "attention");
  await page.locator(`[data-section="missing-volume"] li[data-event="${missingVolume.eventId}"] [data-action="fill"]`).click();
  const form = page.locator(`form[data-form="fill"][data-event="${missingVolume.eventId}"]`);
  await form.getByLabel("Input tokens", { exact: true }).fill(FILL.inputTokens.toString());
  await form.getByLabel("Output tokens", { exact: true }).fill(FILL.outputTokens.toString());
  await shot(page, "attention-fill");
  await form.locator('[data-action="confirm-fill"]').click();

  const notice = page.locator(`.notice [data-outcome="filled"][data-event="${missingVolume.eventId}"]`);
  await expect(notice).toBeVisible();
  const event = (await sk.ingest.getEvent({ eventId: missingVolume.eventId })).event!;
  expect(event.status).toBe(EventStatus.PROCESSED);
  expect(event.lines[0].usage?.inputTokens).toBe(FILL.inputTokens);
  expect(event.lines[0].usage?.outputTokens).toBe(FILL.outputTokens);
  await expectFigure(figure(notice, "filled-cost"), event.totalCostUsd, "the filled event's cost");

  const needs = await expectAttentionEqualsApi(page);
  expect(needs.missingVolumeEventCount).toBe(before.needs.missingVolumeEventCount - 1n);
  const margin = (await sk.reports.getMargin({ startTime: month.startTime, endTime: month.endTime })).totals!;
  expect(subtractDecimal(margin.costUsd, before.margin.costUsd), "cost went up by the event's cost").toBe(subtractDecimal(event.totalCostUsd, "0"));
  expect(margin.unpricedEventCount).toBe(before.margin.unpricedEventCount - 1n);

  await page.goto(`/?${windowQuery(month)}`);
  await expectOverviewEqualsApi(page);
  await expectFigure(figure(page.locator('[data-section="attention"]'), "missing-volume"), (await sk.reports.getNeedsAttention({ startTime: month.startTime, endTime: month.endTime })).missingVolumeEventCount);
  await shot(page, "overview-after-actions");
});
