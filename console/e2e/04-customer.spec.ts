// A customer's page: who it is and its plans, its figures, its days, its runs and its cost by agent
// and by model, all equal to the API's for the window in the URL.
import { expectCustomerEqualsApi } from "./checks";
import { expect, ready, shot, signIn, test, windowQuery, thisMonth } from "./fixtures";
import { CUSTOMERS } from "./workload";

test("a customer reached from the customers page equals the API's", async ({ page }) => {
  await signIn(page, "publishable", "/customers");
  await ready(page, "customers");
  await page.locator(`[data-section="customers"] tr[data-customer="${CUSTOMERS.acme.id}"] a`).first().click();
  await expect(page).toHaveURL(new RegExp(`/customers/${CUSTOMERS.acme.id}\\?`));
  await expectCustomerEqualsApi(page, CUSTOMERS.acme.id);
  await expect(page.locator("h1")).toHaveText(CUSTOMERS.acme.name);
  await shot(page, "customer");
});

test("every seeded customer's page equals the API's", async ({ page }) => {
  await signIn(page, "publishable");
  for (const customer of [CUSTOMERS.globex, CUSTOMERS.umbrella, CUSTOMERS.initech]) {
    await page.goto(`/customers/${encodeURIComponent(customer.id)}?${windowQuery(thisMonth())}`);
    await expectCustomerEqualsApi(page, customer.id);
  }
  // Initech has no plan: a negative margin, shown with a minus sign.
  await expect(page.locator('[data-section="figures"] [data-figure="margin"]')).toContainText("−$");
  await shot(page, "customer-no-plan");
});

test("an unknown customer says so", async ({ page }) => {
  await signIn(page, "publishable", "/customers/e2e-nobody");
  await expect(page.locator('main[data-page="customer"] [data-not-found="e2e-nobody"]')).toBeVisible();
});
