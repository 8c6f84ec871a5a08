// Budgets: every budget's limits, spend, holds and room equal ListBudgets' and CheckBudget's; a
// publishable key sees the actions disabled and the server refuses them; a secret key creates,
// edits and deletes a budget through the page.
import { BudgetEnforcement, BudgetScopeKind } from "../src/gen/tally/v1/budgets_pb";
import { allBudgets, expectBudgetsEqualApi } from "./checks";
import { Code, expect, plainDecimal, pk, ready, refusal, shot, signIn, test } from "./fixtures";
import { BUDGETS } from "./workload";

const NEEDS_SECRET_KEY = "Needs a secret key (sk_)";

test("every budget equals ListBudgets' and CheckBudget's", async ({ page }) => {
  await signIn(page, "publishable");
  await page.getByRole("link", { name: "Budgets", exact: true }).click();
  const budgets = await expectBudgetsEqualApi(page);
  expect(budgets.map((budget) => budget.name)).toEqual(expect.arrayContaining([BUDGETS.project, BUDGETS.acme]));
  // Acme's budget is passed: the page says so.
  const acme = budgets.find((budget) => budget.name === BUDGETS.acme)!;
  await expect(page.locator(`tr[data-budget="${acme.budgetId}"]`)).toContainText("exceeded");
  await shot(page, "budgets");
});

test("a publishable key sees the actions disabled, and the server refuses them", async ({ page }) => {
  await signIn(page, "publishable", "/budgets");
  await ready(page, "budgets");
  await expect(page.locator("[data-read-only]")).toBeVisible();
  const buttons = page.locator('[data-action="create-budget"], [data-action="edit-budget"], [data-action="delete-budget"]');
  expect(await buttons.count()).toBeGreaterThanOrEqual(5);
  for (const button of await buttons.all()) {
    await expect(button).toBeDisabled();
    await expect(button).toHaveAttribute("title", NEEDS_SECRET_KEY);
  }
  // Past the disabled buttons (as a hand-edited page could get), the server still refuses, and the
  // console says so in the form.
  const create = page.locator('[data-action="create-budget"]');
  await create.evaluate((button: HTMLButtonElement) => void (button.disabled = false));
  await create.click();
  const form = page.locator('form[data-form="create-budget"]');
  await form.getByLabel("Name", { exact: true }).fill("e2e refused in the page");
  await form.getByLabel("Monthly limit (USD, UTC month)").fill("1");
  const save = form.locator('[data-action="save-budget"]');
  await save.evaluate((button: HTMLButtonElement) => void (button.disabled = false));
  await save.click();
  await expect(form.locator(".error")).toContainText("Creating the budget failed: PERMISSION_DENIED");
  await shot(page, "budgets-refused");

  const [first] = await allBudgets();
  const created = await refusal(() =>
    pk.budgets.createBudget({ budget: { name: "e2e refused", scope: { kind: BudgetScopeKind.PROJECT }, monthlyLimitUsd: "1", enforcement: BudgetEnforcement.ALERT } }),
  );
  expect(created.code, `CreateBudget with a pk key: ${created.message}`).toBe(Code.PermissionDenied);
  const deleted = await refusal(() => pk.budgets.deleteBudget({ budgetId: first.budgetId }));
  expect(deleted.code, `DeleteBudget with a pk key: ${deleted.message}`).toBe(Code.PermissionDenied);
  const updated = await refusal(() => pk.budgets.updateBudget({ budget: { budgetId: first.budgetId, name: "e2e renamed" }, updateMask: { paths: ["name"] } }));
  expect(updated.code, `UpdateBudget with a pk key: ${updated.message}`).toBe(Code.PermissionDenied);
  const after = await allBudgets();
  expect(after.map((budget) => [budget.budgetId, budget.name])).toContainEqual([first.budgetId, first.name]);
  expect(after.map((budget) => budget.name)).not.toContain("e2e refused");
  expect(after.map((budget) => budget.name)).not.toContain("e2e refused in the page");
});

test("a secret key creates, edits and deletes a budget through the page", async ({ page }) => {
  const name = `e2e ui budget ${Date.now().toString(36)}`;
  await signIn(page, "secret", "/budgets");
  await ready(page, "budgets");

  await page.locator('[data-action="create-budget"]').click();
  const form = page.locator('form[data-form="create-budget"]');
  await form.getByLabel("Name", { exact: true }).fill(name);
  await form.getByLabel("Scope").selectOption({ label: "One agent (all customers)" });
  await form.getByLabel("Agent code").fill("support_reply");
  await form.getByLabel("Monthly limit (USD, UTC month)").fill("1.25");
  await form.getByLabel("Per-run limit (USD)").fill("0.5");
  await form.getByLabel("Enforcement").selectOption({ label: "Block (deny the step)" });
  await shot(page, "budgets-create");
  await form.locator('[data-action="save-budget"]').click();

  const created = page.locator('.notice [data-outcome="created"]');
  await expect(created).toBeVisible();
  const id = (await created.getAttribute("data-budget"))!;
  const budget = (await allBudgets()).find((candidate) => candidate.budgetId === id);
  expect(budget, "the created budget is listed by the API").toBeTruthy();
  expect(budget!.name).toBe(name);
  expect(budget!.scope?.kind).toBe(BudgetScopeKind.AGENT);
  expect(budget!.scope?.agentCode).toBe("support_reply");
  expect(plainDecimal(budget!.monthlyLimitUsd)).toBe("1.25");
  expect(plainDecimal(budget!.perRunLimitUsd)).toBe("0.5");
  expect(budget!.enforcement).toBe(BudgetEnforcement.BLOCK);
  await expectBudgetsEqualApi(page);
  await shot(page, "budgets-created");

  // Edit: the monthly limit only.
  const row = page.locator(`tr[data-budget="${id}"]`);
  await row.locator('[data-action="edit-budget"]').click();
  const edit = page.locator(`form[data-form="edit-budget"][data-budget="${id}"]`);
  await edit.getByLabel("Monthly limit (USD, UTC month)").fill("2.5");
  await edit.locator('[data-action="save-budget"]').click();
  await expect(page.locator(`.notice [data-outcome="updated"][data-budget="${id}"]`)).toBeVisible();
  const edited = (await allBudgets()).find((candidate) => candidate.budgetId === id)!;
  expect(plainDecimal(edited.monthlyLimitUsd)).toBe("2.5");
  expect(plainDecimal(edited.perRunLimitUsd)).toBe("0.5");
  expect(edited.name).toBe(name);
  await expectBudgetsEqualApi(page);

  // Delete, confirmed.
  await row.locator('[data-action="delete-budget"]').click();
  await page.locator(`[role="alertdialog"][data-budget="${id}"] [data-action="confirm-delete"]`).click();
  await expect(page.locator(`.notice [data-outcome="deleted"][data-budget="${id}"]`)).toBeVisible();
  expect((await allBudgets()).map((candidate) => candidate.budgetId)).not.toContain(id);
  await expect(row).toHaveCount(0);
  await expectBudgetsEqualApi(page);
});
