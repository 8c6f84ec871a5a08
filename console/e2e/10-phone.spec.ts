// Every page on a phone (375 px wide): it loads, nothing but a table's own card scrolls sideways
// (the page itself is no wider than the screen), and a screenshot of each is kept.
import { expect, ready, shot, signIn, test } from "./fixtures";
import { CUSTOMERS, RUNS } from "./workload";

const PAGES: [string, string, string][] = [
  ["/", "overview", "overview-375"],
  ["/customers", "customers", "customers-375"],
  [`/customers/${CUSTOMERS.acme.id}`, "customer", "customer-375"],
  ["/runs", "runs", "runs-375"],
  [`/runs/${RUNS.complete}`, "run", "run-375"],
  ["/attention", "attention", "attention-375"],
  ["/budgets", "budgets", "budgets-375"],
  ["/prices?q=openai%2Fgpt-4o-mini", "prices", "prices-375"],
];

test.use({ viewport: { width: 375, height: 800 } });

test("every page fits a phone's width", async ({ page }) => {
  await signIn(page, "secret");
  const tooWide: string[] = [];
  for (const [path, name, file] of PAGES) {
    await page.goto(path);
    await ready(page, name);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) tooWide.push(`${name} (${path}): ${width} px`);
    await shot(page, file);
  }
  expect(tooWide, "pages wider than the phone's 375 px").toEqual([]);
});
