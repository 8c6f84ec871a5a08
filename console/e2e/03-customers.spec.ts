// The customers page: margin by customer equal to GetMargin's, in the API's order for every sort,
// the plan filter, the totals, and the risky accounts equal to ListRiskyAccounts'.
import { MarginOrderBy, ReportDimension } from "../src/gen/tally/v1/reports_pb";
import { eventually, expectCustomersEqualApi, expectRiskyEqualApi } from "./checks";
import { expect, ready, shot, signIn, test } from "./fixtures";
import { CUSTOMERS, PRO } from "./workload";

test("margin by customer equals GetMargin's, sorted by the API", async ({ page }) => {
  await signIn(page, "publishable");
  await page.getByRole("link", { name: "Customers", exact: true }).click();
  // With no sort in the URL: the most expensive first.
  await expectCustomersEqualApi(page, { orderBy: MarginOrderBy.COST, descending: true });
  const ids = await page.locator('[data-section="customers"] tbody tr[data-customer]').evaluateAll((rows) => rows.map((row) => row.getAttribute("data-customer")));
  for (const customer of Object.values(CUSTOMERS)) expect(ids).toContain(customer.id);
  await shot(page, "customers");

  // Every sort the headers offer, descending then ascending, is the API's order.
  const sorts: [string, MarginOrderBy][] = [
    ["margin", MarginOrderBy.MARGIN],
    ["revenue", MarginOrderBy.REVENUE],
    ["margin-percent", MarginOrderBy.MARGIN_PERCENT],
    ["events", MarginOrderBy.EVENT_COUNT],
    ["customer", MarginOrderBy.GROUP],
  ];
  for (const [column, orderBy] of sorts) {
    await page.locator(`[data-section="customers"] button[data-sort="${column}"]`).click();
    await expect(page).toHaveURL(new RegExp(`sort=${column}&desc=1|desc=1.*sort=${column}`));
    await eventually(() => expectCustomersEqualApi(page, { orderBy, descending: true }));
    await page.locator(`[data-section="customers"] button[data-sort="${column}"]`).click();
    await expect(page).not.toHaveURL(/desc=1/);
    await eventually(() => expectCustomersEqualApi(page, { orderBy, descending: false }));
  }
});

test("the plan filter and the URL's view are the API's", async ({ page }) => {
  await signIn(page, "publishable", "/customers");
  await ready(page, "customers");
  await page.getByLabel("Plan").selectOption(PRO.name);
  await expect(page).toHaveURL(/plan=pro/);
  const filters = [{ dimension: ReportDimension.PLAN, values: [PRO.name] }];
  await eventually(() => expectCustomersEqualApi(page, { orderBy: MarginOrderBy.COST, descending: true, filters }));
  const ids = await page.locator('[data-section="customers"] tbody tr[data-customer]').evaluateAll((rows) => rows.map((row) => row.getAttribute("data-customer")));
  expect(ids.sort()).toEqual([CUSTOMERS.acme.id, CUSTOMERS.umbrella.id]);

  // The same URL opened afresh shows the same view.
  await page.reload();
  await expectCustomersEqualApi(page, { orderBy: MarginOrderBy.COST, descending: true, filters });
  await expect(page.getByLabel("Plan")).toHaveValue(PRO.name);

  // No plan: Initech only.
  await page.getByLabel("Plan").selectOption({ label: "No plan" });
  await eventually(async () => {
    await expectCustomersEqualApi(page, { orderBy: MarginOrderBy.COST, descending: true, filters: [{ dimension: ReportDimension.PLAN, values: [""] }] });
    await expect(page.locator('[data-section="customers"] tbody tr[data-customer]')).toHaveCount(1);
  });
});

test("risky accounts equal ListRiskyAccounts'", async ({ page }) => {
  await signIn(page, "publishable", "/customers");
  const accounts = await expectRiskyEqualApi(page);
  // Initech costs and earns nothing: listed, with a reason.
  expect(accounts.map((account) => account.customerId)).toContain(CUSTOMERS.initech.id);
  await expect(page.locator(`[data-section="risky"] tr[data-customer="${CUSTOMERS.initech.id}"] [data-reason="no-revenue"]`)).toBeVisible();

  // A lower threshold through the form: the URL keeps it, the list is the API's for it.
  await page.getByLabel("Cost above this % of revenue").fill("0.01");
  await page.locator('button[data-action="set-risk"]').click();
  await expect(page).toHaveURL(/risk=0\.01/);
  await eventually(async () => {
    const more = await expectRiskyEqualApi(page, "0.01");
    expect(more.length).toBeGreaterThan(accounts.length);
  });
});
