// What an integration with Tally does, end to end, checked against what it sent.
//
//   npm ci && npm run build
//   TALLY_ADDRESS=127.0.0.1:50051 TALLY_KEY=sk_... npm start
//
// It starts a run for a customer on a plan, records a multi-service event and a batch (each record
// with an idempotency key, each result read, nothing that came back `stored: true` sent again),
// completes the run with an outcome, checks a budget, and prints the run summary and this month's
// margin by customer. Every cost Tally reports is compared, as an exact decimal string, with the
// cost computed here from the catalog prices read with Pricing.GetPrice (money as bigint units of
// 1e-10 USD, never a float). Exits 1 on a failed call or a figure that is off.
//
// The contract is loaded from proto/ at run time by @grpc/proto-loader: no generated code. Messages
// are plain objects with the proto field names (keepCase), 64-bit integers as strings and enums as
// their names.

import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const here = dirname(fileURLToPath(import.meta.url));
const protoDir = process.env.TALLY_PROTO_DIR ?? resolve(here, "../../../proto");
const TIMEOUT_MS = 10_000;
const AGENT = "report_writer";
const PLAN = { name: "pro", monthly_usd: "49" };
const BUDGET_NAME = "examples: report_writer per run";
// Stored statuses: the event is committed and must never be sent again.
const STORED = new Set(["EVENT_STATUS_PROCESSED", "EVENT_STATUS_MISSING_VOLUME_DATA", "EVENT_STATUS_NEEDS_COST_BACKFILL"]);

// ---- the messages this program reads and writes (the fields it uses) ----

type U64 = string;
interface ServiceUsage {
  provider: string;
  model: string;
  input_tokens?: number;
  cached_input_tokens?: number;
  cache_creation_tokens?: number;
  output_tokens?: number;
  call_status?: string;
}
interface EventRecord {
  idempotency_key: string;
  run_id: string;
  customer: { id: string; name: string; plan: typeof PLAN };
  agent_code: string;
  user_id: string;
  signal_name?: string;
  quantity?: number;
  service?: ServiceUsage;
  services?: { services: ServiceUsage[] };
}
interface LineResult { index: number; status: string; cost_usd: string; error: string }
interface RecordResult {
  index: number;
  status: string;
  stored: boolean;
  event_id: string;
  total_cost_usd: string;
  lines: LineResult[];
  error: string;
  field_violations: { field: string; description: string }[];
  duplicate: boolean;
}
interface Price {
  dimension: string;
  service_tier: string;
  long_context_threshold_tokens?: U64;
  _long_context_threshold_tokens?: string;
  unit_price_usd: string;
  token_convention: { input_includes_cached_input: boolean; output_includes_reasoning: boolean } | null;
}
interface Budget { budget_id: string; name: string }
interface BudgetCheck {
  budget: Budget;
  window: string;
  limit_usd: string;
  spent_usd: string;
  remaining_usd: string;
}
interface ModelCost {
  provider: string;
  model: string;
  cost_usd: string;
  step_count: U64;
  tokens: { input_tokens: U64; cached_input_tokens: U64; output_tokens: U64 };
}
interface Run {
  run_id: string;
  status: string;
  total_cost_usd: string;
  event_count: U64;
  step_count: U64;
  unpriced_step_count: U64;
  model_costs: ModelCost[];
  outcomes: { name: string; value: string }[];
}
interface MarginRow {
  group_values: { dimension: string; value: string; display_name: string }[];
  revenue_available: boolean;
  revenue_note: string;
  revenue_usd: string;
  cost_usd: string;
  margin_usd: string;
  margin_percent: string;
  event_count: U64;
}

// ---- exact money: bigint units of 1e-10 USD ----

const SCALE = 10;
const PRICE_SCALE = 18; // unit prices have at most 18 decimal places

function parseDecimal(text: string, scale: number): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Mismatch(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ""] = match;
  if (fraction.length > scale) throw new Mismatch(`${text} has more than ${scale} decimal places`);
  const value = BigInt(whole + fraction.padEnd(scale, "0"));
  return sign ? -value : value;
}

/** units × unit price, rounded half to even to 1e-10 USD. */
function itemCost(units: bigint, unitPrice: string): bigint {
  const exact = units * parseDecimal(unitPrice, PRICE_SCALE); // in 1e-18 USD
  const divisor = 10n ** BigInt(PRICE_SCALE - SCALE);
  const quotient = exact / divisor;
  const remainder = exact % divisor;
  if (remainder * 2n > divisor || (remainder * 2n === divisor && quotient % 2n === 1n)) return quotient + 1n;
  return quotient;
}

function usd(amount: bigint): string {
  const sign = amount < 0n ? "-" : "";
  const digits = (amount < 0n ? -amount : amount).toString().padStart(SCALE + 1, "0");
  return `${sign}${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`;
}

class Mismatch extends Error {}

function expect(what: string, got: string, want: bigint | string): void {
  const wantText = typeof want === "bigint" ? usd(want) : want;
  if (got !== wantText) throw new Mismatch(`${what}: Tally says ${JSON.stringify(got)}, expected ${JSON.stringify(wantText)}`);
  console.log(`  ok  ${what} = ${got}`);
}

// ---- the client ----

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: any) => void) => void;

class Tally {
  private readonly metadata = new grpc.Metadata();
  private readonly clients: Record<string, grpc.Client & Record<string, Unary>> = {};

  constructor(address: string, key: string) {
    // The key goes in the call metadata of every call.
    this.metadata.set("authorization", `Bearer ${key}`);
    const files = readdirSync(join(protoDir, "tally/v1")).filter((f) => f.endsWith(".proto")).map((f) => `tally/v1/${f}`);
    const definition = protoLoader.loadSync(files, {
      includeDirs: [protoDir],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const v1 = (grpc.loadPackageDefinition(definition) as any).tally.v1;
    const channel = new grpc.Channel(address, grpc.credentials.createInsecure(), {});
    for (const service of ["Ingest", "Runs", "Budgets", "Pricing", "Reports"]) {
      this.clients[service] = new v1[service](address, grpc.credentials.createInsecure(), { channelOverride: channel });
    }
  }

  /** One unary call with a deadline; rejects with the gRPC error. */
  call<T>(service: string, method: string, request: object): Promise<T> {
    const client = this.clients[service];
    return new Promise((resolvePromise, reject) => {
      client[method].call(client, request, this.metadata, { deadline: Date.now() + TIMEOUT_MS }, (err, response) => {
        if (err) reject(err);
        else resolvePromise(response as T);
      });
    });
  }

  /**
   * Sends records as one batch and returns one stored result per record, in order.
   *
   * Each result is read on its own: a stored record is done and never sent again; one that failed
   * on the server (INTERNAL_ERROR) is sent again with the same idempotency key; an invalid one
   * stops the program. A call that fails whole with UNAVAILABLE is sent again as it was: the
   * idempotency keys make that safe.
   */
  async record(records: EventRecord[], attempts = 3): Promise<RecordResult[]> {
    if (records.some((r) => !r.idempotency_key)) throw new Error("every record needs an idempotency key");
    const done = new Map<string, RecordResult>();
    let pending = records;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let results: RecordResult[];
      try {
        results = pending.length === 1
          ? [(await this.call<{ result: RecordResult }>("Ingest", "RecordEvent", { record: pending[0] })).result]
          : (await this.call<{ results: RecordResult[] }>("Ingest", "RecordBatch", { records: pending })).results;
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.UNAVAILABLE && attempt < attempts) {
          await sleep(attempt * 1000);
          continue;
        }
        throw err;
      }
      if (results.length !== pending.length) throw new Mismatch(`sent ${pending.length} records, got ${results.length} results`);
      const retry: EventRecord[] = [];
      pending.forEach((record, i) => {
        const result = results[i];
        if (result.stored) {
          if (!STORED.has(result.status)) throw new Mismatch(`${record.idempotency_key}: stored with status ${result.status}`);
          done.set(record.idempotency_key, result);
        } else if (result.status === "EVENT_STATUS_INTERNAL_ERROR") {
          retry.push(record);
        } else {
          const violations = result.field_violations.map((v) => `${v.field}: ${v.description}`).join("; ");
          throw new Mismatch(`${record.idempotency_key} rejected (${result.status}): ${result.error || violations}`);
        }
      });
      if (retry.length === 0) return records.map((r) => done.get(r.idempotency_key)!);
      pending = retry;
      await sleep(attempt * 1000);
    }
    throw new Mismatch(`${pending.length} records still not stored after ${attempts} attempts`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- pricing, as the catalog's rules say, for the counts sent here ----

interface Rates { byDimension: Map<string, string>; inputIncludesCached: boolean }

/** The standard-tier base rates (no long-context rate) in force now, by cost dimension. */
async function ratesOf(tally: Tally, provider: string, model: string): Promise<Rates> {
  const answer = await tally.call<{ prices: Price[] }>("Pricing", "GetPrice", { provider, model });
  const byDimension = new Map<string, string>();
  let inputIncludesCached = false;
  for (const price of answer.prices) {
    if (price.service_tier === "SERVICE_TIER_STANDARD" && price._long_context_threshold_tokens === undefined) {
      byDimension.set(price.dimension, price.unit_price_usd);
      inputIncludesCached = price.token_convention?.input_includes_cached_input ?? false;
    }
  }
  if (!byDimension.has("COST_DIMENSION_INPUT")) throw new Mismatch(`${provider}/${model}: no standard input price`);
  return { byDimension, inputIncludesCached };
}

/** Each rate's units times its unit price, rounded to 10 places half to even, added up (no
 * reasoning tokens and nothing near a long-context threshold here). */
function lineCost(usage: ServiceUsage, rates: Rates): bigint {
  const input = BigInt(usage.input_tokens ?? 0);
  const cached = BigInt(usage.cached_input_tokens ?? 0);
  const creation = BigInt(usage.cache_creation_tokens ?? 0);
  const output = BigInt(usage.output_tokens ?? 0);
  const rate = (dimension: string) => rates.byDimension.get(dimension) ?? rates.byDimension.get("COST_DIMENSION_INPUT")!;
  const items: [bigint, string][] = [
    [rates.inputIncludesCached ? input - cached : input, rate("COST_DIMENSION_INPUT")],
    [cached, rate("COST_DIMENSION_CACHED_INPUT")],
    [creation, rate("COST_DIMENSION_CACHE_CREATION")],
    [output, rate("COST_DIMENSION_OUTPUT")],
  ];
  return items.filter(([units]) => units > 0n).reduce((sum, [units, price]) => sum + itemCost(units, price), 0n);
}

function llm(provider: string, model: string, tokens: Omit<ServiceUsage, "provider" | "model">): ServiceUsage {
  return { provider, model, call_status: "ok", ...tokens };
}

function timestamp(ms: number) {
  return { seconds: String(Math.floor(ms / 1000)), nanos: 0 };
}

// ---- budgets ----

async function ensureBudget(tally: Tally): Promise<Budget> {
  const listed = await tally.call<{ budgets: Budget[] }>("Budgets", "ListBudgets", {
    scope_kind: "BUDGET_SCOPE_KIND_AGENT", agent_code: AGENT, page_size: 100,
  });
  const found = listed.budgets.find((b) => b.name === BUDGET_NAME);
  if (found) return found;
  const created = await tally.call<{ budget: Budget }>("Budgets", "CreateBudget", {
    budget: {
      name: BUDGET_NAME,
      scope: { kind: "BUDGET_SCOPE_KIND_AGENT", agent_code: AGENT },
      per_run_limit_usd: "1.00",
      enforcement: "BUDGET_ENFORCEMENT_BLOCK",
    },
  });
  console.log(`created budget ${created.budget.budget_id} (${BUDGET_NAME}, 1.00 USD per run, BLOCK)`);
  return created.budget;
}

async function checkBudget(tally: Tally, budget: Budget, runId: string, estimate: string, spent: bigint): Promise<void> {
  const answer = await tally.call<{ allowed: boolean; checks: BudgetCheck[] }>("Budgets", "CheckBudget", {
    run_id: runId, estimated_cost_usd: estimate,
  });
  if (!answer.allowed) throw new Mismatch(`CheckBudget denied the next step of ${runId}: ${JSON.stringify(answer)}`);
  const ours = answer.checks.filter((c) => c.budget.budget_id === budget.budget_id && c.window === "BUDGET_WINDOW_RUN");
  if (ours.length !== 1) throw new Mismatch(`CheckBudget: expected one per-run check of ${budget.budget_id}, got ${ours.length}`);
  const check = ours[0];
  console.log(`budget check before a ${estimate} USD step: allowed, run spend ${check.spent_usd} of ${check.limit_usd}`);
  expect("budget spent_usd (this run)", check.spent_usd, spent);
  expect("budget remaining_usd", check.remaining_usd, parseDecimal(check.limit_usd, SCALE) - spent);
}

// ---- the flow ----

async function main(): Promise<number> {
  const address = process.env.TALLY_ADDRESS ?? "127.0.0.1:50051";
  const key = process.env.TALLY_KEY;
  if (!key) {
    console.error("set TALLY_KEY to a secret key (sk_...)");
    return 2;
  }
  const tally = new Tally(address, key);

  const began = new Date(); // the margin window starts at this month's start
  const runId = `example-run-${randomUUID()}`;
  const customer = { id: `example-customer-${randomUUID().slice(0, 12)}`, name: "Example Agency", plan: PLAN };

  // The prices that apply now, from the shipped catalog.
  const rates = new Map<string, Rates>();
  for (const [provider, model] of [["anthropic", "claude-haiku-4-5"], ["openai", "gpt-4o"], ["openai", "gpt-4o-mini"]]) {
    rates.set(`${provider}/${model}`, await ratesOf(tally, provider, model));
  }

  const started = await tally.call<{ run: Run }>("Runs", "StartRun", {
    run_id: runId, agent_code: AGENT, customer, user_id: "user_17",
  });
  console.log(`started run ${started.run.run_id} for ${customer.id} on plan ${PLAN.name}`);

  const budget = await ensureBudget(tally);
  await checkBudget(tally, budget, runId, "0.05", 0n);

  const record = (name: string, usage: Partial<EventRecord>): EventRecord => ({
    idempotency_key: `${runId}/${name}`, run_id: runId, customer, agent_code: AGENT, user_id: "user_17", ...usage,
  });
  // One business outcome that used two models: a multi-service event.
  const report = record("draft-report", {
    signal_name: "reports",
    quantity: 1,
    services: {
      services: [
        llm("openai", "gpt-4o", { input_tokens: 12000, cached_input_tokens: 4000, output_tokens: 800 }),
        llm("anthropic", "claude-haiku-4-5", { input_tokens: 3000, cached_input_tokens: 1000, cache_creation_tokens: 500, output_tokens: 400 }),
      ],
    },
  });
  // Then a batch of single-service events.
  const batch = [
    record("classify", { service: llm("openai", "gpt-4o-mini", { input_tokens: 1500, output_tokens: 20 }) }),
    record("summarize", { service: llm("anthropic", "claude-haiku-4-5", { input_tokens: 2200, output_tokens: 350 }) }),
    record("polish", { service: llm("openai", "gpt-4o", { input_tokens: 900, cached_input_tokens: 512, output_tokens: 600 }) }),
  ];

  let expectedTotal = 0n;
  const expectedByModel = new Map<string, bigint>();
  let steps = 0;
  for (const records of [[report], batch]) {
    const results = await tally.record(records);
    records.forEach((sent, i) => {
      const result = results[i];
      const usages = sent.services ? sent.services.services : [sent.service!];
      const expectedLines = usages.map((u) => lineCost(u, rates.get(`${u.provider}/${u.model}`)!));
      if (result.status !== "EVENT_STATUS_PROCESSED") throw new Mismatch(`${sent.idempotency_key}: ${result.status}: ${result.error}`);
      console.log(`recorded ${sent.idempotency_key}: event ${result.event_id}, ${result.total_cost_usd} USD${result.duplicate ? " (duplicate)" : ""}`);
      result.lines.forEach((line, j) => expect(`  line ${line.index} cost`, line.cost_usd, expectedLines[j]));
      const eventTotal = expectedLines.reduce((a, b) => a + b, 0n);
      expect("  event total", result.total_cost_usd, eventTotal);
      usages.forEach((u, j) => {
        const model = `${u.provider}/${u.model}`;
        expectedByModel.set(model, (expectedByModel.get(model) ?? 0n) + expectedLines[j]);
      });
      expectedTotal += eventTotal;
      steps += usages.length;
    });
  }

  // A quote of the same lines must agree with what ingest charged.
  const allLines = [...report.services!.services, ...batch.map((r) => r.service!)];
  const quote = await tally.call<{ total_cost_usd: string }>("Pricing", "QuoteCost", { services: allLines });
  expect("QuoteCost of every line sent", quote.total_cost_usd, expectedTotal);

  await checkBudget(tally, budget, runId, "0.05", expectedTotal);

  const completed = await tally.call<{ run: Run }>("Runs", "CompleteRun", {
    run_id: runId,
    outcomes: [{ name: "report_delivered", value: "1", value_kind: "OUTCOME_VALUE_KIND_UNITS" }],
  });
  if (completed.run.status !== "RUN_STATUS_COMPLETED") throw new Mismatch(`run status after CompleteRun: ${completed.run.status}`);

  const { run } = await tally.call<{ run: Run }>("Runs", "GetRun", { run_id: runId });
  console.log(`\nrun ${run.run_id}: ${run.status}, ${run.event_count} events, ${run.step_count} steps, ` +
    `total ${run.total_cost_usd} USD, outcomes ${run.outcomes.map((o) => `${o.name}=${o.value}`).join(", ")}`);
  for (const mc of run.model_costs) {
    console.log(`  ${mc.provider}/${mc.model}: ${mc.cost_usd} USD over ${mc.step_count} steps ` +
      `(input ${mc.tokens.input_tokens}, cached ${mc.tokens.cached_input_tokens}, output ${mc.tokens.output_tokens})`);
  }
  expect("run total_cost_usd", run.total_cost_usd, expectedTotal);
  expect("run step_count", run.step_count, String(steps));
  expect("run event_count", run.event_count, "4");
  expect("run unpriced_step_count", run.unpriced_step_count, "0");
  const gotModels = new Map(run.model_costs.map((mc) => [`${mc.provider}/${mc.model}`, mc.cost_usd]));
  if ([...gotModels.keys()].sort().join() !== [...expectedByModel.keys()].sort().join()) {
    throw new Mismatch(`run models ${[...gotModels.keys()]}, expected ${[...expectedByModel.keys()]}`);
  }
  for (const [model, cost] of [...expectedByModel].sort()) expect(`run cost of ${model}`, gotModels.get(model)!, cost);

  // This month so far, on whole hours (the window's end is the next whole hour; its start the
  // month the run began in, should the month have turned since).
  const now = new Date();
  const start = Date.UTC(began.getUTCFullYear(), began.getUTCMonth(), 1);
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours() + 1);
  const request: Record<string, unknown> = {
    start_time: timestamp(start), end_time: timestamp(end),
    group_by: ["REPORT_DIMENSION_CUSTOMER"], order_by: "MARGIN_ORDER_BY_MARGIN", page_size: 100,
  };
  const rows: MarginRow[] = [];
  let totals: MarginRow;
  for (;;) {
    const page = await tally.call<{ rows: MarginRow[]; totals: MarginRow; next_page_token: string }>("Reports", "GetMargin", request);
    rows.push(...page.rows);
    totals = page.totals;
    if (!page.next_page_token) break;
    request.page_token = page.next_page_token;
  }
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  console.log(`\nmargin by customer, ${iso(start)} to ${iso(end)} UTC ` +
    `(totals: revenue ${totals.revenue_usd}, cost ${totals.cost_usd}, margin ${totals.margin_usd})`);
  console.log(`  ${"customer".padEnd(32)} ${"revenue".padStart(16)} ${"cost".padStart(16)} ${"margin".padStart(16)} ${"margin %".padStart(9)} ${"events".padStart(7)}`);
  for (const row of rows.slice(0, 20)) {
    const who = row.group_values[0]?.value ?? "(all)";
    console.log(`  ${who.padEnd(32)} ${row.revenue_usd.padStart(16)} ${row.cost_usd.padStart(16)} ${row.margin_usd.padStart(16)} ${row.margin_percent.padStart(9)} ${row.event_count.padStart(7)}`);
  }
  const ours = rows.filter((r) => r.group_values[0]?.value === customer.id);
  if (ours.length !== 1) throw new Mismatch(`margin report: expected one row for ${customer.id}, got ${ours.length}`);
  const row = ours[0];
  expect("margin row cost_usd", row.cost_usd, expectedTotal);
  expect("margin row event_count", row.event_count, "4");
  if (!row.revenue_available) throw new Mismatch(`margin row: revenue not available (${row.revenue_note})`);
  // Margin is rounded once from the exact revenue: revenue_usd minus cost, or 1e-10 off at a tie.
  const marginGap = parseDecimal(row.margin_usd, SCALE) - (parseDecimal(row.revenue_usd, SCALE) - expectedTotal);
  if (marginGap > 1n || marginGap < -1n) {
    throw new Mismatch(`margin row margin_usd: Tally says ${JSON.stringify(row.margin_usd)}, expected revenue_usd minus ${usd(expectedTotal)}`);
  }
  console.log(`  ok  margin row margin_usd = ${row.margin_usd}`);

  console.log("\nall figures match");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof Mismatch) console.error(`MISMATCH: ${err.message}`);
    else if (typeof err?.code === "number") console.error(`call failed: ${grpc.status[err.code]}: ${err.details}`);
    else console.error(err);
    process.exit(1);
  },
);
