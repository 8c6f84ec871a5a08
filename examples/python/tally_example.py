"""What an integration with Tally does, end to end, checked against what it sent.

    TALLY_ADDRESS=127.0.0.1:50051 TALLY_KEY=sk_... python tally_example.py

It starts a run for a customer on a plan, records a multi-service event and a batch (each record
with an idempotency key, each result read, nothing that came back `stored: true` sent again),
completes the run with an outcome, checks a budget, and prints the run summary and this month's
margin by customer. Every cost Tally reports is compared, as an exact decimal string, with the cost
computed here from the catalog prices read with Pricing.GetPrice. Exits 1 on a failed call or a
figure that is off.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal

import grpc

import stubs

stubs.generate()

from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from tally.v1 import (  # noqa: E402
    budgets_pb2,
    budgets_pb2_grpc,
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    pricing_pb2,
    pricing_pb2_grpc,
    reports_pb2,
    reports_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)

TEN_PLACES = Decimal("0.0000000001")
TIMEOUT_S = 10.0
AGENT = "report_writer"
PLAN = common_pb2.Plan(name="pro", monthly_usd="49")
BUDGET_NAME = "examples: report_writer per run"

# Stored statuses: the event is committed and must never be sent again.
STORED = {
    common_pb2.EVENT_STATUS_PROCESSED,
    common_pb2.EVENT_STATUS_MISSING_VOLUME_DATA,
    common_pb2.EVENT_STATUS_NEEDS_COST_BACKFILL,
}


class Mismatch(Exception):
    """A figure from Tally differs from the one computed here."""


def usd(value: Decimal) -> str:
    """A USD amount as Tally writes it: exactly 10 decimal places."""
    return format(value.quantize(TEN_PLACES, rounding=ROUND_HALF_EVEN), "f")


def expect(what: str, got: str, want: Decimal | str) -> None:
    want_text = usd(want) if isinstance(want, Decimal) else want
    if got != want_text:
        raise Mismatch(f"{what}: Tally says {got!r}, expected {want_text!r}")
    print(f"  ok  {what} = {got}")


class Tally:
    """The five Tally services behind one channel, the key sent as call metadata on every call."""

    def __init__(self, address: str, key: str):
        self.channel = grpc.insecure_channel(address)
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.ingest = ingest_pb2_grpc.IngestStub(self.channel)
        self.runs = runs_pb2_grpc.RunsStub(self.channel)
        self.budgets = budgets_pb2_grpc.BudgetsStub(self.channel)
        self.pricing = pricing_pb2_grpc.PricingStub(self.channel)
        self.reports = reports_pb2_grpc.ReportsStub(self.channel)

    def call(self, method, request):
        return method(request, metadata=self.metadata, timeout=TIMEOUT_S)

    def record(self, records: list[ingest_pb2.EventRecord], attempts: int = 3) -> list[ingest_pb2.RecordResult]:
        """Sends records as one batch and returns one stored result per record, in order.

        Each result is read on its own: a stored record is done and is never sent again; one that
        failed on the server (`INTERNAL_ERROR`) is sent again with the same idempotency key; an
        invalid one stops the program, since sending it again cannot help. A call that fails as a
        whole with UNAVAILABLE is sent again as it was: the idempotency keys make that safe.
        """
        for record in records:
            if not record.idempotency_key:
                raise ValueError("every record needs an idempotency key")
        done: dict[str, ingest_pb2.RecordResult] = {}
        pending = list(records)
        for attempt in range(1, attempts + 1):
            try:
                if len(pending) == 1:
                    results = [self.call(self.ingest.RecordEvent, ingest_pb2.RecordEventRequest(record=pending[0])).result]
                else:
                    results = list(self.call(self.ingest.RecordBatch, ingest_pb2.RecordBatchRequest(records=pending)).results)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE and attempt < attempts:
                    time.sleep(attempt)
                    continue
                raise
            if len(results) != len(pending):
                raise Mismatch(f"sent {len(pending)} records, got {len(results)} results")
            retry = []
            for record, result in zip(pending, results):
                if result.stored:
                    if result.status not in STORED:
                        raise Mismatch(f"{record.idempotency_key}: stored with status {result.status}")
                    done[record.idempotency_key] = result
                elif result.status == common_pb2.EVENT_STATUS_INTERNAL_ERROR:
                    retry.append(record)
                else:
                    violations = "; ".join(f"{v.field}: {v.description}" for v in result.field_violations)
                    raise Mismatch(
                        f"{record.idempotency_key} rejected ({common_pb2.EventStatus.Name(result.status)}): "
                        f"{result.error or violations}"
                    )
            if not retry:
                return [done[r.idempotency_key] for r in records]
            pending = retry
            time.sleep(attempt)
        raise Mismatch(f"{len(pending)} records still not stored after {attempts} attempts")


def prices_of(tally: Tally, provider: str, model: str) -> tuple[dict[int, Decimal], common_pb2.ServiceTier, pricing_pb2.TokenConvention]:
    """The standard-tier base rates (no long-context rate) in force now, by cost dimension."""
    answer = tally.call(tally.pricing.GetPrice, pricing_pb2.GetPriceRequest(provider=provider, model=model))
    rates = {}
    convention = pricing_pb2.TokenConvention()
    for price in answer.prices:
        if price.service_tier == common_pb2.SERVICE_TIER_STANDARD and not price.HasField("long_context_threshold_tokens"):
            rates[price.dimension] = Decimal(price.unit_price_usd)
            convention = price.token_convention
    if common_pb2.COST_DIMENSION_INPUT not in rates:
        raise Mismatch(f"{provider}/{model}: no standard input price in the catalog")
    return rates, convention


def line_cost(usage: common_pb2.ServiceUsage, rates: dict[int, Decimal], convention) -> Decimal:
    """What Tally should charge for one service line: each rate's units times its unit price,
    rounded to 10 places half to even, then added up (the catalog's rules, for the counts sent
    here: no reasoning tokens, nothing near a long-context threshold)."""
    cached = usage.cached_input_tokens
    plain_input = usage.input_tokens - cached if convention.input_includes_cached_input else usage.input_tokens
    input_rate = rates[common_pb2.COST_DIMENSION_INPUT]
    items = [
        (plain_input, input_rate),
        (cached, rates.get(common_pb2.COST_DIMENSION_CACHED_INPUT, input_rate)),
        (usage.cache_creation_tokens, rates.get(common_pb2.COST_DIMENSION_CACHE_CREATION, input_rate)),
        (usage.output_tokens, rates[common_pb2.COST_DIMENSION_OUTPUT]),
    ]
    return sum(
        ((Decimal(units) * rate).quantize(TEN_PLACES, rounding=ROUND_HALF_EVEN) for units, rate in items if units),
        Decimal(0),
    )


def llm(provider: str, model: str, **tokens: int) -> common_pb2.ServiceUsage:
    return common_pb2.ServiceUsage(provider=provider, model=model, call_status="ok", **tokens)


def whole_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def ensure_budget(tally: Tally) -> budgets_pb2.Budget:
    """The agent's per-run budget, created on the first run against this project."""
    listed = tally.call(tally.budgets.ListBudgets, budgets_pb2.ListBudgetsRequest(
        scope_kind=budgets_pb2.BUDGET_SCOPE_KIND_AGENT, agent_code=AGENT, page_size=100))
    for budget in listed.budgets:
        if budget.name == BUDGET_NAME:
            return budget
    created = tally.call(tally.budgets.CreateBudget, budgets_pb2.CreateBudgetRequest(budget=budgets_pb2.Budget(
        name=BUDGET_NAME,
        scope=budgets_pb2.BudgetScope(kind=budgets_pb2.BUDGET_SCOPE_KIND_AGENT, agent_code=AGENT),
        per_run_limit_usd="1.00",
        enforcement=budgets_pb2.BUDGET_ENFORCEMENT_BLOCK,
    )))
    print(f"created budget {created.budget.budget_id} ({BUDGET_NAME}, 1.00 USD per run, BLOCK)")
    return created.budget


def check_budget(tally: Tally, budget: budgets_pb2.Budget, run_id: str, estimate: str, spent: Decimal) -> None:
    answer = tally.call(tally.budgets.CheckBudget, budgets_pb2.CheckBudgetRequest(run_id=run_id, estimated_cost_usd=estimate))
    if not answer.allowed:
        raise Mismatch(f"CheckBudget denied the next step of {run_id}: {answer}")
    ours = [c for c in answer.checks if c.budget.budget_id == budget.budget_id and c.window == budgets_pb2.BUDGET_WINDOW_RUN]
    if len(ours) != 1:
        raise Mismatch(f"CheckBudget: expected one per-run check of budget {budget.budget_id}, got {len(ours)}")
    check = ours[0]
    print(f"budget check before a {estimate} USD step: allowed, run spend {check.spent_usd} of {check.limit_usd}")
    expect("budget spent_usd (this run)", check.spent_usd, spent)
    expect("budget remaining_usd", check.remaining_usd, Decimal(check.limit_usd) - spent)


def main() -> int:
    address = os.environ.get("TALLY_ADDRESS", "127.0.0.1:50051")
    key = os.environ.get("TALLY_KEY")
    if not key:
        print("set TALLY_KEY to a secret key (sk_...)", file=sys.stderr)
        return 2
    tally = Tally(address, key)

    began = datetime.now(timezone.utc)  # the margin window starts at this month's start
    run_id = f"example-run-{uuid.uuid4()}"
    customer = common_pb2.CustomerAttribution(id=f"example-customer-{uuid.uuid4().hex[:12]}", name="Example Agency", plan=PLAN)

    # The prices that apply now, from the shipped catalog.
    models = {("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")}
    prices = {m: prices_of(tally, *m) for m in sorted(models)}

    started = tally.call(tally.runs.StartRun, runs_pb2.StartRunRequest(
        run_id=run_id, agent_code=AGENT, customer=customer, user_id="user_17"))
    print(f"started run {started.run.run_id} for {customer.id} on plan {PLAN.name}")

    budget = ensure_budget(tally)
    check_budget(tally, budget, run_id, "0.05", Decimal(0))

    def record(key: str, **usage) -> ingest_pb2.EventRecord:
        return ingest_pb2.EventRecord(
            idempotency_key=f"{run_id}/{key}", run_id=run_id, customer=customer, agent_code=AGENT,
            user_id="user_17", **usage)

    # One business outcome that used two models: a multi-service event.
    report = record(
        "draft-report",
        signal_name="reports",
        quantity=1,
        services=ingest_pb2.MultiServiceUsage(services=[
            llm("openai", "gpt-4o", input_tokens=12000, cached_input_tokens=4000, output_tokens=800),
            llm("anthropic", "claude-haiku-4-5", input_tokens=3000, cached_input_tokens=1000,
                cache_creation_tokens=500, output_tokens=400),
        ]),
    )
    # Then a batch of single-service events.
    batch = [
        record("classify", service=llm("openai", "gpt-4o-mini", input_tokens=1500, output_tokens=20)),
        record("summarize", service=llm("anthropic", "claude-haiku-4-5", input_tokens=2200, output_tokens=350)),
        record("polish", service=llm("openai", "gpt-4o", input_tokens=900, cached_input_tokens=512, output_tokens=600)),
    ]

    expected_total = Decimal(0)
    expected_by_model: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    steps = 0
    for records in ([report], batch):
        results = tally.record(records)
        for sent, result in zip(records, results):
            usages = list(sent.services.services) if sent.HasField("services") else [sent.service]
            expected_lines = [line_cost(u, *prices[(u.provider, u.model)]) for u in usages]
            if result.status != common_pb2.EVENT_STATUS_PROCESSED:
                raise Mismatch(f"{sent.idempotency_key}: {common_pb2.EventStatus.Name(result.status)}: {result.error}")
            print(f"recorded {sent.idempotency_key}: event {result.event_id}, {result.total_cost_usd} USD"
                  f"{' (duplicate)' if result.duplicate else ''}")
            for line, want in zip(result.lines, expected_lines):
                expect(f"  line {line.index} cost", line.cost_usd, want)
            expect("  event total", result.total_cost_usd, sum(expected_lines, Decimal(0)))
            for usage, cost in zip(usages, expected_lines):
                expected_by_model[(usage.provider, usage.model)] += cost
            expected_total += sum(expected_lines, Decimal(0))
            steps += len(usages)

    # A quote of the same lines must agree with what ingest charged.
    all_lines = list(report.services.services) + [r.service for r in batch]
    quote = tally.call(tally.pricing.QuoteCost, pricing_pb2.QuoteCostRequest(services=all_lines))
    expect("QuoteCost of every line sent", quote.total_cost_usd, expected_total)

    check_budget(tally, budget, run_id, "0.05", expected_total)

    completed = tally.call(tally.runs.CompleteRun, runs_pb2.CompleteRunRequest(
        run_id=run_id,
        outcomes=[runs_pb2.Outcome(name="report_delivered", value="1", value_kind=runs_pb2.OUTCOME_VALUE_KIND_UNITS)],
    ))
    if completed.run.status != common_pb2.RUN_STATUS_COMPLETED:
        raise Mismatch(f"run status after CompleteRun: {common_pb2.RunStatus.Name(completed.run.status)}")

    run = tally.call(tally.runs.GetRun, runs_pb2.GetRunRequest(run_id=run_id)).run
    print(f"\nrun {run.run_id}: {common_pb2.RunStatus.Name(run.status)}, {run.event_count} events, "
          f"{run.step_count} steps, total {run.total_cost_usd} USD, "
          f"outcomes {[o.name + '=' + o.value for o in run.outcomes]}")
    for mc in run.model_costs:
        print(f"  {mc.provider}/{mc.model}: {mc.cost_usd} USD over {mc.step_count} steps "
              f"(input {mc.tokens.input_tokens}, cached {mc.tokens.cached_input_tokens}, output {mc.tokens.output_tokens})")
    expect("run total_cost_usd", run.total_cost_usd, expected_total)
    expect("run step_count", str(run.step_count), str(steps))
    expect("run event_count", str(run.event_count), "4")
    expect("run unpriced_step_count", str(run.unpriced_step_count), "0")
    got_models = {(mc.provider, mc.model): mc.cost_usd for mc in run.model_costs}
    if set(got_models) != set(expected_by_model):
        raise Mismatch(f"run models {sorted(got_models)}, expected {sorted(expected_by_model)}")
    for model, cost in sorted(expected_by_model.items()):
        expect(f"run cost of {model[0]}/{model[1]}", got_models[model], cost)

    # This month so far, on whole hours (the window's end is the next whole hour; its start the
    # month the run began in, should the month have turned since).
    start = whole_hour(began).replace(day=1, hour=0)
    end = whole_hour(datetime.now(timezone.utc)) + timedelta(hours=1)
    request = reports_pb2.GetMarginRequest(
        start_time=timestamp(start), end_time=timestamp(end),
        group_by=[reports_pb2.REPORT_DIMENSION_CUSTOMER],
        order_by=reports_pb2.MARGIN_ORDER_BY_MARGIN, page_size=100)
    rows = []
    while True:
        page = tally.call(tally.reports.GetMargin, request)
        rows.extend(page.rows)
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    print(f"\nmargin by customer, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC "
          f"(totals: revenue {page.totals.revenue_usd}, cost {page.totals.cost_usd}, margin {page.totals.margin_usd})")
    print(f"  {'customer':<32} {'revenue':>16} {'cost':>16} {'margin':>16} {'margin %':>9} {'events':>7}")
    for row in rows[:20]:
        who = row.group_values[0].value if row.group_values else "(all)"
        print(f"  {who:<32} {row.revenue_usd:>16} {row.cost_usd:>16} {row.margin_usd:>16} {row.margin_percent:>9} {row.event_count:>7}")
    ours = [r for r in rows if r.group_values and r.group_values[0].value == customer.id]
    if len(ours) != 1:
        raise Mismatch(f"margin report: expected one row for {customer.id}, got {len(ours)}")
    row = ours[0]
    expect("margin row cost_usd", row.cost_usd, expected_total)
    expect("margin row event_count", str(row.event_count), "4")
    if not row.revenue_available:
        raise Mismatch(f"margin row: revenue not available ({row.revenue_note})")
    # Margin is rounded once from the exact revenue: revenue_usd minus cost, or 1e-10 off at a tie.
    margin_gap = Decimal(row.margin_usd) - (Decimal(row.revenue_usd) - expected_total)
    if abs(margin_gap) > Decimal("0.0000000001"):
        raise Mismatch(f"margin row margin_usd: Tally says {row.margin_usd!r}, "
                       f"expected revenue_usd minus {usd(expected_total)}")
    print(f"  ok  margin row margin_usd = {row.margin_usd}")

    print("\nall figures match")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as err:
        print(f"call failed: {err.code().name}: {err.details()}", file=sys.stderr)
        sys.exit(1)
    except Mismatch as err:
        print(f"MISMATCH: {err}", file=sys.stderr)
        sys.exit(1)
