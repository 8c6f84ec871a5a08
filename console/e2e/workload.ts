// The known workload the console is tested on, seeded through the public API with the secret key
// (global-setup.ts calls `seed` once per test session). What it holds:
//
// Customers (ids start with "e2e-"), with plans:
//   e2e-acme      "Acme Corp"   plan pro ($99/month) from the start of this month (UpdateCustomer)
//   e2e-globex    "Globex"      plan starter ($19.5/month), set by its first event's attribution
//   e2e-initech   "Initech"     no plan: cost and no revenue, a negative margin
//   e2e-umbrella  "Umbrella"    plan pro, set by its first event's attribution
// A signal price: plan pro earns $0.05 per "replies" unit from the start of this month.
//
// Events, all in the current UTC month (the last few hours, clamped to the month's start; never in
// the future), priced from the shipped catalog: openai/gpt-4o, openai/gpt-4o-mini,
// anthropic/claude-sonnet-4-5; one line with a cost given by the caller (10 decimal places); one
// multi-service event; one gpt-4o call at the flex tier, which the catalog does not price (billed at
// the standard price: "tier price missing").
//
// Runs (runs.proto):
//   e2e-run-complete  Acme, support_reply: 3 steps of 3 models, completed with two outcomes
//                     (reply_generated $12.50, pages 3 units)
//   e2e-run-failed    Globex, support_reply: 2 steps, failed ("tool timeout"), one outcome after
//   e2e-run-bloat     Umbrella, report_writer: 4 steps, the 4th with 6x the input tokens of the
//                     first three (flag CONTEXT_BLOAT), still running
//   e2e-run-implicit  Initech, report_writer: started by its first event (no StartRun), then a
//                     multi-service event: 2 events, 3 steps
//
// Budgets: "e2e project month" (project, $5/month, ALERT) and "e2e acme" (customer e2e-acme,
// $0.01/month and $0.002/run, BLOCK: passed, so Acme's runs are flagged BUDGET_EXCEEDED).
//
// Parked events, made anew by every session (so the actions have something to act on when the tests
// run twice against one server), named by the session's stamp:
//   an unknown model acme-ai/acme-llm-<stamp> (2,000 input, 500 output tokens; for Globex):
//     NEEDS_COST_BACKFILL until the test maps it to openai/gpt-4o through the attention page;
//   an openai/gpt-4o-mini call with no token counts (for Initech, agent report_writer):
//     MISSING_VOLUME_DATA until the test fills 10,000 input and 2,000 output tokens.
//
// Seeding is idempotent (idempotency keys, StartRun/CompleteRun/FailRun return existing runs,
// budgets and outcomes are looked up before they are made), so a second session against the same
// server adds only its own parked events.
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { BudgetEnforcement, BudgetScopeKind } from "../src/gen/tally/v1/budgets_pb";
import { EventStatus, ServiceTier, type CustomerAttributionSchema, type ServiceUsageSchema } from "../src/gen/tally/v1/common_pb";
import type { EventRecordSchema } from "../src/gen/tally/v1/ingest_pb";
import { OutcomeValueKind } from "../src/gen/tally/v1/runs_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { sk } from "./fixtures";

type RecordInit = MessageInitShape<typeof EventRecordSchema>;
type UsageInit = MessageInitShape<typeof ServiceUsageSchema>;
type AttributionInit = MessageInitShape<typeof CustomerAttributionSchema>;

export const CUSTOMERS = {
  acme: { id: "e2e-acme", name: "Acme Corp" },
  globex: { id: "e2e-globex", name: "Globex" },
  initech: { id: "e2e-initech", name: "Initech" },
  umbrella: { id: "e2e-umbrella", name: "Umbrella" },
} as const;

export const PRO = { name: "pro", monthlyUsd: "99" };
export const STARTER = { name: "starter", monthlyUsd: "19.5" };

export const RUNS = {
  complete: "e2e-run-complete",
  failed: "e2e-run-failed",
  bloat: "e2e-run-bloat",
  implicit: "e2e-run-implicit",
} as const;

export const BUDGETS = { project: "e2e project month", acme: "e2e acme" } as const;

/** The model an unknown one is mapped to, through the UI. */
export const MAP_TARGET = { provider: "openai", model: "gpt-4o" } as const;
/** The counts filled in through the UI. */
export const FILL = { inputTokens: 10_000n, outputTokens: 2_000n } as const;

/** What one session seeded: the parked events it made for the actions. */
export interface Session {
  stamp: string;
  unknown: { provider: string; model: string; eventId: string };
  missingVolume: { provider: string; model: string; eventId: string; agentCode: string };
}

function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** `minutes` before now, but never before the start of this UTC month. */
function ago(now: Date, minutes: number): Timestamp {
  const at = Math.max(now.getTime() - minutes * 60_000, monthStart(now).getTime());
  return timestampFromDate(new Date(at));
}

function llm(provider: string, model: string, input?: bigint, output?: bigint, extra: UsageInit = {}): UsageInit {
  return { provider, model, inputTokens: input, outputTokens: output, ...extra };
}

const attribution = (customer: { id: string; name: string }, plan?: { name: string; monthlyUsd: string }): AttributionInit => ({
  id: customer.id,
  name: customer.name,
  plan,
});

function event(key: string, fields: Omit<RecordInit, "usage" | "idempotencyKey"> & { line?: UsageInit; lines?: UsageInit[] }): RecordInit {
  const { line, lines, ...rest } = fields;
  return {
    idempotencyKey: `e2e-${key}`,
    ...rest,
    usage: lines ? { case: "services", value: { services: lines } } : { case: "service", value: line ?? {} },
  } as RecordInit;
}

async function record(records: RecordInit[], expected: EventStatus = EventStatus.PROCESSED): Promise<string[]> {
  const { results } = await sk.ingest.recordBatch({ records });
  return results.map((result, index) => {
    if (!result.stored || result.status !== expected) {
      throw new Error(`workload event ${records[index].idempotencyKey}: ${EventStatus[result.status]} (${result.error}), expected ${EventStatus[expected]}`);
    }
    return result.eventId;
  });
}

/** Seeds the base workload (idempotent) and this session's parked events. */
export async function seed(now = new Date()): Promise<Session> {
  const { acme, globex, initech, umbrella } = CUSTOMERS;
  const start = timestampFromDate(monthStart(now));

  // Acme's plan from the start of the month; pro earns per reply.
  await sk.directory.updateCustomer({
    customer: { customerId: acme.id, displayName: acme.name, plan: PRO },
    updateMask: { paths: ["display_name", "plan"] },
    planStartTime: start,
    allowMissing: true,
  });
  await sk.pricing.setSignalPrice({ signalPrice: { planName: PRO.name, signalName: "replies", unitPriceUsd: "0.05", effectiveTime: start } });

  // Budgets, made once, before the events: a run that passes a limit as its events land is flagged.
  const { budgets } = await sk.budgets.listBudgets({ pageSize: 100 });
  const named = new Set(budgets.map((budget) => budget.name));
  if (!named.has(BUDGETS.project)) {
    await sk.budgets.createBudget({
      budget: { name: BUDGETS.project, scope: { kind: BudgetScopeKind.PROJECT }, monthlyLimitUsd: "5", enforcement: BudgetEnforcement.ALERT },
    });
  }
  if (!named.has(BUDGETS.acme)) {
    await sk.budgets.createBudget({
      budget: {
        name: BUDGETS.acme,
        scope: { kind: BudgetScopeKind.CUSTOMER, customerId: acme.id },
        monthlyLimitUsd: "0.01",
        perRunLimitUsd: "0.002",
        enforcement: BudgetEnforcement.BLOCK,
      },
    });
  }

  // Plain events of several customers, agents and models.
  await record([
    event("acme-1", { customer: attribution(acme, PRO), agentCode: "support_reply", signalName: "replies", quantity: 4n, usageTime: ago(now, 170), line: llm("openai", "gpt-4o", 1_200n, 300n) }),
    event("acme-2", { customer: attribution(acme, PRO), agentCode: "support_reply", signalName: "replies", quantity: 2n, usageTime: ago(now, 150), line: llm("anthropic", "claude-sonnet-4-5", 3_000n, 800n) }),
    event("globex-1", { customer: attribution(globex, STARTER), agentCode: "support_reply", usageTime: ago(now, 160), line: llm("openai", "gpt-4o-mini", 5_000n, 1_000n) }),
    event("globex-2", { customer: attribution(globex, STARTER), agentCode: "report_writer", signalName: "pages", quantity: 12n, usageTime: ago(now, 140), line: llm("openai", "gpt-4o", 8_000n, 2_000n) }),
    event("initech-1", { customer: attribution(initech), agentCode: "report_writer", usageTime: ago(now, 130), line: llm("anthropic", "claude-sonnet-4-5", 20_000n, 4_000n) }),
    event("initech-manual", { customer: attribution(initech), agentCode: "ocr", usageTime: ago(now, 125), line: { provider: "acme-ocr", model: "page-reader", quantity: 7n, costUsd: "0.1234567891" } }),
    event("umbrella-1", { customer: attribution(umbrella, PRO), agentCode: "support_reply", signalName: "replies", quantity: 1n, usageTime: ago(now, 120), line: llm("openai", "gpt-4o-mini", 900n, 150n) }),
    event("umbrella-multi", {
      customer: attribution(umbrella, PRO),
      agentCode: "report_writer",
      usageTime: ago(now, 110),
      lines: [llm("openai", "gpt-4o", 2_500n, 700n), llm("anthropic", "claude-sonnet-4-5", 1_500n, 300n, { cachedInputTokens: 500n })],
    }),
  ]);
  // Billed at the standard price for want of a flex price: "tier price missing".
  await record([event("globex-flex", { customer: attribution(globex, STARTER), agentCode: "support_reply", usageTime: ago(now, 100), line: llm("openai", "gpt-4o", 4_000n, 1_000n, { serviceTier: ServiceTier.FLEX }) })]);

  // Runs.
  await sk.runs.startRun({ runId: RUNS.complete, agentCode: "support_reply", customer: attribution(acme, PRO), userId: "user_17", startTime: ago(now, 95) });
  await record([
    event("run-complete-1", { runId: RUNS.complete, usageTime: ago(now, 94), signalName: "replies", quantity: 1n, line: llm("openai", "gpt-4o-mini", 1_000n, 200n) }),
    event("run-complete-2", { runId: RUNS.complete, usageTime: ago(now, 93), line: llm("openai", "gpt-4o", 1_500n, 400n) }),
    event("run-complete-3", { runId: RUNS.complete, usageTime: ago(now, 92), line: llm("anthropic", "claude-sonnet-4-5", 2_000n, 600n) }),
  ]);
  await sk.runs.completeRun({
    runId: RUNS.complete,
    endTime: ago(now, 91),
    outcomes: [
      { name: "reply_generated", value: "12.5", valueKind: OutcomeValueKind.USD },
      { name: "pages", value: "3", valueKind: OutcomeValueKind.UNITS },
    ],
  });

  await sk.runs.startRun({ runId: RUNS.failed, agentCode: "support_reply", customer: attribution(globex, STARTER), startTime: ago(now, 80) });
  await record([
    event("run-failed-1", { runId: RUNS.failed, usageTime: ago(now, 79), line: llm("openai", "gpt-4o", 2_200n, 100n) }),
    event("run-failed-2", { runId: RUNS.failed, usageTime: ago(now, 78), line: llm("openai", "gpt-4o", 2_300n, 50n) }),
  ]);
  await sk.runs.failRun({ runId: RUNS.failed, reason: "tool timeout", endTime: ago(now, 77) });
  const failed = await sk.runs.getRun({ runId: RUNS.failed });
  if (!failed.run?.outcomes.length) await sk.runs.recordOutcome({ runId: RUNS.failed, outcome: { name: "escalated_to_human" } });

  await sk.runs.startRun({ runId: RUNS.bloat, agentCode: "report_writer", customer: attribution(umbrella, PRO), startTime: ago(now, 60) });
  await record(
    [1_000n, 1_000n, 1_000n, 6_000n].map((input, index) =>
      event(`run-bloat-${index + 1}`, { runId: RUNS.bloat, usageTime: ago(now, 59 - index), line: llm("openai", "gpt-4o-mini", input, 250n) }),
    ),
  );

  await record([
    event("run-implicit-1", { runId: RUNS.implicit, customer: attribution(initech), agentCode: "report_writer", usageTime: ago(now, 50), line: llm("anthropic", "claude-sonnet-4-5", 4_000n, 900n) }),
  ]);
  // The run is known now: its customer and agent come from it.
  await record([
    event("run-implicit-2", {
      runId: RUNS.implicit,
      usageTime: ago(now, 49),
      lines: [llm("openai", "gpt-4o", 3_000n, 600n), llm("anthropic", "claude-sonnet-4-5", 1_200n, 300n)],
    }),
  ]);

  // This session's parked events.
  const stamp = now.getTime().toString(36);
  const unknown = { provider: "acme-ai", model: `acme-llm-${stamp}` };
  const [unknownId] = await record(
    [event(`unknown-${stamp}`, { customer: attribution(globex, STARTER), agentCode: "support_reply", usageTime: ago(now, 30), line: llm(unknown.provider, unknown.model, 2_000n, 500n) })],
    EventStatus.NEEDS_COST_BACKFILL,
  );
  const missing = { provider: "openai", model: "gpt-4o-mini", agentCode: "report_writer" };
  const [missingId] = await record(
    [event(`missing-volume-${stamp}`, { customer: attribution(initech), agentCode: missing.agentCode, usageTime: ago(now, 20), line: llm(missing.provider, missing.model) })],
    EventStatus.MISSING_VOLUME_DATA,
  );
  return { stamp, unknown: { ...unknown, eventId: unknownId }, missingVolume: { ...missing, eventId: missingId } };
}

/** The session global-setup.ts seeded (it passes it to the test workers in TALLY_E2E_SESSION). */
export function session(): Session {
  const text = process.env.TALLY_E2E_SESSION;
  if (!text) throw new Error("TALLY_E2E_SESSION is not set: global-setup.ts did not seed the workload");
  return JSON.parse(text) as Session;
}
