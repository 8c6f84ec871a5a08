// Signing in and out: both key kinds sign in, a wrong key is refused with a message, the key lives
// in this tab's session storage only (never in a URL), and signing out forgets it.
import { env, expect, ready, shot, signIn, test, type KeyKind } from "./fixtures";

const STORAGE_KEY = "tally.key";
const NAVIGATION: [string, string][] = [
  ["Customers", "customers"],
  ["Runs", "runs"],
  ["Needs attention", "attention"],
  ["Budgets", "budgets"],
  ["Prices", "prices"],
  ["Overview", "overview"],
];

for (const kind of ["secret", "publishable"] as KeyKind[]) {
  test(`a ${kind} key signs in, stays out of every URL, and is forgotten on sign-out`, async ({ page }) => {
    const key = kind === "secret" ? env.sk : env.pk;
    const urls: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    page.on("framenavigated", (frame) => urls.push(frame.url()));

    const response = await page.goto("/");
    // The server sends its strict CSP with the page (console/dev.mjs, in front of it, does not).
    if (env.url === env.grpcUrl) {
      const policy = (await response?.allHeaders())?.["content-security-policy"] ?? "";
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain("style-src 'self'");
      expect(policy).not.toContain("unsafe-");
    }
    const form = page.locator('main[data-page="sign-in"]');
    await expect(form).toBeVisible();
    if (kind === "secret") await shot(page, "sign-in");
    // The input is a password field with a label.
    await expect(page.getByLabel("API key")).toHaveAttribute("type", "password");

    await signIn(page, kind);
    await expect(page.locator(".who")).toContainText(kind === "secret" ? "Secret key" : "Read-only key");
    await ready(page, "overview");
    expect(await page.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBe(key);
    // A reload keeps the session (same tab), and lands on the same page.
    await page.reload();
    await ready(page, "overview");
    await expect(page.locator(`[data-key-kind="${kind}"]`)).toBeVisible();
    // Every page of the navigation opens with this key, each call answered.
    for (const [link, name] of NAVIGATION) {
      await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: link, exact: true }).click();
      await ready(page, name);
      await expect(page.locator(`[data-key-kind="${kind}"]`)).toBeVisible();
    }

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(form).toBeVisible();
    expect(await page.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBeNull();
    // After signing out, a reload still shows the form: nothing else kept the key.
    await page.reload();
    await expect(form).toBeVisible();

    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url, "a URL carries the key").not.toContain(key);
    // Nor does any cookie or local storage.
    expect(JSON.stringify(await page.context().cookies())).not.toContain(key);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(key);
  });
}

test("a wrong key is refused with a message and not kept", async ({ page }) => {
  await page.goto("/");
  const form = page.locator('main[data-page="sign-in"]');
  const input = page.getByLabel("API key");

  // Not a Tally key at all: refused before any call.
  await input.fill("hello");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(form.locator(".error")).toContainText("starts with sk_");

  // Well formed, unknown to the server.
  const unknown = `sk_${"0".repeat(40)}`;
  await input.fill(unknown);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(form.locator(".error")).toContainText("unknown or revoked");
  await expect(form).toBeVisible();
  expect(await page.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBeNull();
  expect(page.url()).not.toContain(unknown);
  await shot(page, "sign-in-refused");
});

test("a deep link survives signing in", async ({ page }) => {
  await signIn(page, "publishable", "/budgets");
  await expect(page).toHaveURL(/\/budgets$/);
  await ready(page, "budgets");
});
