// Prices: the catalog search equals ListPrices' rows and GetPrice's prices in force; the project's
// own prices, model mappings (the one the attention spec made included) and signal prices equal
// the API's; a publishable key cannot set a price; a secret key sets the flex price the attention
// page asks for, through its link.
import { CostDimension, ServiceTier } from "../src/gen/tally/v1/common_pb";
import { PriceSource } from "../src/gen/tally/v1/pricing_pb";
import { eventually, expectCatalogEqualsApi, expectProjectPricingEqualsApi } from "./checks";
import { Code, expect, expectShown, plainDecimal, pk, readRows, ready, refusal, shot, signIn, sk, test } from "./fixtures";
import { MAP_TARGET, session } from "./workload";

test("a catalog search equals ListPrices' rows and GetPrice's prices in force", async ({ page }) => {
  await signIn(page, "publishable");
  await page.getByRole("link", { name: "Prices", exact: true }).click();
  await ready(page, "prices");
  await page.getByLabel("Search prices").fill("openai/gpt-4o");
  await page.locator('[data-action="search"]').click();
  await expect(page).toHaveURL(/q=openai%2Fgpt-4o/);
  await eventually(() => expectCatalogEqualsApi(page, "openai", "gpt-4o"));
  const prices = await sk.pricing.listPrices({ provider: "openai", modelPrefix: "gpt-4o", pageSize: 500 });

  // Every row of one model on demand.
  const key = `${MAP_TARGET.provider}/${MAP_TARGET.model}`;
  await page.locator(`tr[data-price="${key}"] [data-action="show-prices"]`).click();
  const rows = await readRows(page.locator(`tr[data-price-rows="${key}"] tbody tr[data-price-id]`), ["unit-price"], "data-price-id");
  const own = prices.prices.filter((price) => `${price.provider}/${price.model}` === key);
  expect(rows.map((row) => row.id), `${key}: every price row`).toEqual(own.map((price) => price.priceId));
  own.forEach((price, index) => expectShown(rows[index].cells["unit-price"], price.unitPriceUsd, `${key} row ${price.priceId}`));
  await shot(page, "prices");

  // The project's own, mappings (the attention spec mapped the unknown model), signal prices.
  await expectProjectPricingEqualsApi(page);
  const { unknown } = session();
  await expect(page.locator(`tr[data-mapping="${unknown.provider}/${unknown.model}"]`)).toHaveAttribute("data-target", key);
});

test("a publishable key cannot set a price", async ({ page }) => {
  await signIn(page, "publishable", "/prices");
  await ready(page, "prices");
  await expect(page.locator("[data-read-only]")).toBeVisible();
  await expect(page.locator('[data-action="set-price"]')).toBeDisabled();
  await expect(page.locator('[data-action="set-price"]')).toHaveAttribute("title", "Needs a secret key (sk_)");
  const refused = await refusal(() =>
    pk.pricing.setPrice({ price: { provider: "openai", model: "gpt-4o", dimension: CostDimension.INPUT, serviceTier: ServiceTier.FLEX, unitPriceUsd: "0.000001" } }),
  );
  expect(refused.code, `SetPrice with a pk key: ${refused.message}`).toBe(Code.PermissionDenied);
});

test("a secret key sets the missing flex price from the attention page's link", async ({ page }) => {
  const ownBefore = (await sk.pricing.listPrices({ source: PriceSource.PROJECT, pageSize: 100 })).prices.length;
  await signIn(page, "secret", "/attention");
  await ready(page, "attention");
  const link = page.locator('[data-section="tier-price-missing"] tr[data-model="openai/gpt-4o"][data-tier="flex"] a[data-action="set-tier-price"][data-dimension="input"]');
  await link.click();
  await expect(page).toHaveURL(/\/prices\?.*tier=flex/);
  await ready(page, "prices");
  const form = page.locator('form[data-form="set-price"]');
  await expect(form.getByLabel("Provider", { exact: true })).toHaveValue("openai");
  await expect(form.getByLabel("Model", { exact: true })).toHaveValue("gpt-4o");
  await expect(form.getByLabel("Service tier")).toHaveValue(String(ServiceTier.FLEX));
  await expect(form.getByLabel("Dimension")).toHaveValue(String(CostDimension.INPUT));
  await form.getByLabel("USD per unit (per token)").fill("0.00000125");
  await form.locator('[data-action="set-price"]').click();

  const notice = page.locator('.notice [data-outcome="price-set"][data-price="openai/gpt-4o"]');
  await expect(notice).toBeVisible();
  const own = (await sk.pricing.listPrices({ source: PriceSource.PROJECT, pageSize: 100 })).prices;
  expect(own.length).toBe(ownBefore + 1);
  const priceId = await notice.getAttribute("data-price-id");
  const set = own.find((price) => price.priceId === priceId);
  expect(set, "the price set is the project's own").toBeTruthy();
  expect(set!.serviceTier).toBe(ServiceTier.FLEX);
  expect(set!.dimension).toBe(CostDimension.INPUT);
  expect(plainDecimal(set!.unitPriceUsd)).toBe("0.00000125");
  // GetPrice prices a flex call of gpt-4o with it now.
  const now = await sk.pricing.getPrice({ provider: "openai", model: "gpt-4o" });
  expect(now.prices.some((price) => price.priceId === set!.priceId)).toBe(true);
  await expectProjectPricingEqualsApi(page);
  await shot(page, "prices-set");
});
