// What every spec uses: the tests' own gRPC clients (plain gRPC over HTTP/2, the way any service
// calls Tally) with the secret and the publishable key, signing in through the form, screenshots,
// reading a figure off the screen exactly, and a `page` that fails its test on any browser console
// error, uncaught exception or CSP violation.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { test as base, expect, type Locator, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Budgets } from "../src/gen/tally/v1/budgets_pb";
import { Directory } from "../src/gen/tally/v1/directory_pb";
import { Ingest } from "../src/gen/tally/v1/ingest_pb";
import { Pricing } from "../src/gen/tally/v1/pricing_pb";
import { Reports } from "../src/gen/tally/v1/reports_pb";
import { Runs } from "../src/gen/tally/v1/runs_pb";

export { expect };

/** The environment the tests run in (see playwright.config.ts). */
export const env = {
  /** Where the browser opens the console. */
  url: process.env.TALLY_URL ?? "",
  /** Where the tests' gRPC clients call the server. */
  grpcUrl: process.env.TALLY_GRPC_URL || process.env.TALLY_URL || "",
  sk: process.env.TALLY_SK ?? "",
  pk: process.env.TALLY_PK ?? "",
  backend: process.env.TALLY_BACKEND || "local",
};

/** Says what is missing from the environment; empty when the tests can run. */
export function missingEnvironment(): string[] {
  const missing: string[] = [];
  if (!env.url) missing.push("TALLY_URL (the console's address, e.g. http://127.0.0.1:50051)");
  if (!env.sk.startsWith("sk_")) missing.push("TALLY_SK (a secret key, sk_…)");
  if (!env.pk.startsWith("pk_")) missing.push("TALLY_PK (a publishable key of the same project, pk_…)");
  return missing;
}

export type KeyKind = "secret" | "publishable";

function clients(key: string) {
  const withKey: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
  // gRPC over HTTP/2 with prior knowledge (connect-node's gRPC transport speaks HTTP/2 only).
  const transport = createGrpcTransport({ baseUrl: env.grpcUrl || "http://127.0.0.1:1", interceptors: [withKey] });
  const client = <T extends DescService>(service: T): Client<T> => createClient(service, transport);
  return {
    budgets: client(Budgets),
    directory: client(Directory),
    ingest: client(Ingest),
    pricing: client(Pricing),
    reports: client(Reports),
    runs: client(Runs),
  };
}

/** The API with the secret key. */
export const sk = clients(env.sk);
/** The API with the publishable key. */
export const pk = clients(env.pk);

/** Calls `call` and returns the gRPC code it failed with (fails the test if it succeeded). */
export async function refusal(call: () => Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call();
  } catch (error) {
    if (error instanceof ConnectError) return { code: error.code, message: error.rawMessage };
    throw error;
  }
  throw new Error("the call succeeded; expected it to be refused");
}

export { Code };

// --- The page -----------------------------------------------------------------------------------

interface BrowserErrors {
  /** Lets console errors matching `pattern` pass (a test that provokes one on purpose). */
  allow(pattern: RegExp): void;
  allowed: RegExp[];
}

export const test = base.extend<{ browserErrors: BrowserErrors }>({
  browserErrors: async ({}, use) => {
    const allowed: RegExp[] = [];
    await use({ allowed, allow: (pattern) => void allowed.push(pattern) });
  },
  page: async ({ page, browserErrors }, use, testInfo) => {
    const errors: string[] = [];
    // Chromium reports CSP violations on the console too; the event names the directive for certain.
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) =>
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`),
      );
    });
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = `${message.text()} (${message.location().url}:${message.location().lineNumber})`;
      if (!browserErrors.allowed.some((pattern) => pattern.test(text))) errors.push(text);
    });
    page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
    await use(page);
    if (errors.length) await testInfo.attach("browser-errors", { body: errors.join("\n"), contentType: "text/plain" });
    expect(errors, "the browser's console has errors (CSP violations included)").toEqual([]);
  },
});

/** Signs in through the form at `/` (or `path`), waits for the shell, and checks the key kind shown. */
export async function signIn(page: Page, kind: KeyKind, path = "/"): Promise<void> {
  await page.goto(path);
  await expect(page.locator('main[data-page="sign-in"]')).toBeVisible();
  await page.getByLabel("API key").fill(kind === "secret" ? env.sk : env.pk);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator(`[data-key-kind="${kind}"]`)).toBeVisible();
}

/** Waits until `main[data-page=name]` has every call answered, and fails if any failed. */
export async function ready(page: Page, name: string): Promise<Locator> {
  const main = page.locator(`main[data-page="${name}"]`);
  await expect(main).toHaveAttribute("data-state", /^(ready|error)$/);
  const state = await main.getAttribute("data-state");
  if (state === "error") {
    const messages = await main.locator(".error").allTextContents();
    throw new Error(`page ${name} failed: ${messages.join(" | ")}`);
  }
  return main;
}

/** Opens `path` (a client-side navigation through a link when signed in keeps the key) and waits. */
export async function visit(page: Page, path: string, name: string): Promise<Locator> {
  await page.goto(path);
  return ready(page, name);
}

const SHOTS = resolve(__dirname, "screenshots", env.backend);

/** A full-page screenshot at console/e2e/screenshots/<backend>/<name>.png; prints its path. */
export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

// --- Figures ------------------------------------------------------------------------------------

/**
 * A decimal as plain text without grouping, currency, percent sign or trailing zeros, so that the
 * screen's "$1,234.50", "−$0.00001234", "1,204", "37.50 %" and the API's "1234.5000000000",
 * "-0.0000123400", 1204n, "37.50" compare as strings: never through a JavaScript number. "—" and
 * "" (no figure) are "".
 */
export function plainDecimal(text: string): string {
  const compact = text
    .trim()
    .replace(/\u2212/g, "-")
    .replace(/[$,%\s\u00a0]/g, "");
  if (compact === "" || compact === "—") return "";
  const parts = /^(-?)(\d+)(?:\.(\d+))?$/.exec(compact);
  if (!parts) throw new Error(`not a decimal figure: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ""] = parts;
  const integer = whole.replace(/^0+(?=\d)/, "");
  const decimals = fraction.replace(/0+$/, "");
  const zero = /^0*$/.test(integer + decimals);
  return `${zero ? "" : sign}${integer}${decimals ? `.${decimals}` : ""}`;
}

type ApiFigure = string | bigint | number;

/**
 * Asserts that the one element `figure` shows the API's value: its text, normalized, equals the
 * API's string normalized the same way, and so does its `data-value` where it has one.
 */
export async function expectFigure(figure: Locator, api: ApiFigure, what?: string): Promise<void> {
  const text = (await figure.textContent()) ?? "";
  const expected = String(api);
  expect(plainDecimal(text), `${what ?? String(figure)}: shown ${JSON.stringify(text)}, API ${JSON.stringify(expected)}`).toBe(
    plainDecimal(expected),
  );
  const value = await figure.getAttribute("data-value");
  if (value !== null) expect(plainDecimal(value), `${what ?? String(figure)}: data-value ${JSON.stringify(value)}`).toBe(plainDecimal(expected));
}

/** A figure as shown: its text and its `data-value` (null without one). */
export interface Shown {
  text: string;
  value: string | null;
}

/** Asserts that a figure read by `readRows` shows the API's value (see `expectFigure`). */
export function expectShown(shown: Shown | null | undefined, api: ApiFigure, what: string): void {
  expect(shown, `${what}: not on the page (or more than one)`).toBeTruthy();
  const expected = String(api);
  expect(plainDecimal(shown!.text), `${what}: shown ${JSON.stringify(shown!.text)}, API ${JSON.stringify(expected)}`).toBe(plainDecimal(expected));
  if (shown!.value !== null) expect(plainDecimal(shown!.value), `${what}: data-value ${JSON.stringify(shown!.value)}`).toBe(plainDecimal(expected));
}

/** A row read by `readRows`: its id attribute and each column's figure. */
export interface ShownRow {
  id: string | null;
  cells: Record<string, Shown | null>;
}

/**
 * Reads every row of `rows` in one round trip: the row's `idAttribute` and, per column, the one
 * element matching its selector inside the row (null when there is none or more than one). Columns
 * given as bare names are `[data-figure=name]`.
 */
export async function readRows(rows: Locator, columns: Record<string, string> | string[], idAttribute?: string): Promise<ShownRow[]> {
  const selectors = Array.isArray(columns) ? Object.fromEntries(columns.map((name) => [name, `[data-figure="${name}"]`])) : columns;
  return rows.evaluateAll(
    (elements, [selectors, idAttribute]) =>
      elements.map((element) => ({
        id: idAttribute ? element.getAttribute(idAttribute) : null,
        cells: Object.fromEntries(
          Object.entries(selectors).map(([name, selector]) => {
            const found = element.querySelectorAll(selector);
            const one = found.length === 1 ? found[0] : null;
            return [name, one ? { text: one.textContent ?? "", value: one.getAttribute("data-value") } : null];
          }),
        ),
      })),
    [selectors, idAttribute ?? null] as const,
  );
}

/** The one `[data-figure=name]` inside `scope`. */
export function figure(scope: Page | Locator, name: string): Locator {
  return scope.locator(`[data-figure="${name}"]`);
}

/** Reads a figure's text as a plain decimal (see `plainDecimal`). */
export async function readFigure(figure: Locator): Promise<string> {
  return plainDecimal((await figure.textContent()) ?? "");
}

/** Compares two decimal strings exactly (bigint on units of 1e-10): -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const scaled = (value: string) => {
    const plain = plainDecimal(value) || "0";
    const [whole, fraction = ""] = plain.replace("-", "").split(".");
    const units = BigInt(whole + fraction.padEnd(10, "0").slice(0, 10));
    return plain.startsWith("-") ? -units : units;
  };
  const [x, y] = [scaled(a), scaled(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** a − b exactly, as a plain decimal (bigint on units of 1e-10). */
export function subtractDecimal(a: string, b: string): string {
  const scaled = (value: string) => {
    const plain = plainDecimal(value) || "0";
    const [whole, fraction = ""] = plain.replace("-", "").split(".");
    const units = BigInt(whole + fraction.padEnd(10, "0").slice(0, 10));
    return plain.startsWith("-") ? -units : units;
  };
  const units = scaled(a) - scaled(b);
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(11, "0");
  return plainDecimal(`${negative ? "-" : ""}${digits.slice(0, -10)}.${digits.slice(-10)}`);
}

// --- Windows ------------------------------------------------------------------------------------

export interface Span {
  startTime: Timestamp;
  endTime: Timestamp;
  start: Date;
  end: Date;
}

/** The window a page shows: its picker's `data-window` ("start/end"), else the URL's start and end. */
export async function pageWindow(page: Page): Promise<Span> {
  const picker = page.locator("[data-window]").first();
  let start: Date | null = null;
  let end: Date | null = null;
  if (await picker.count()) {
    const [from, to] = ((await picker.getAttribute("data-window")) ?? "").split("/");
    start = new Date(from);
    end = new Date(to);
  } else {
    const params = new URL(page.url()).searchParams;
    if (params.get("start") && params.get("end")) {
      start = new Date(params.get("start")!);
      end = new Date(params.get("end")!);
    }
  }
  if (!start || !end || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
    throw new Error(`page ${page.url()} shows no window (no [data-window], no start/end in the URL)`);
  }
  return span(start, end);
}

export function span(start: Date, end: Date): Span {
  return { start, end, startTime: timestampFromDate(start), endTime: timestampFromDate(end) };
}

/** The calendar month (UTC) holding now: the window pages show by default. */
export function thisMonth(now = new Date()): Span {
  return span(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
}

/** The query string of a window, as the console keeps it in the URL. */
export function windowQuery(window: Span): string {
  const iso = (date: Date) => date.toISOString().replace(".000Z", "Z");
  return `start=${encodeURIComponent(iso(window.start))}&end=${encodeURIComponent(iso(window.end))}`;
}
