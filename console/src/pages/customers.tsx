// Margin by customer over the URL's window: sorted and paged by the API, filtered by plan and by
// name; then the accounts whose cost is a risk to their margin.
import { useEffect, useState } from "preact/hooks";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { api, describeError } from "../api";
import { Empty, ErrorBox, Page, Section } from "../components/page";
import { Pager, SortHeader } from "../components/table";
import { Count, Money, Percent } from "../components/values";
import { WindowPicker } from "../components/window_picker";
import {
  MarginOrderBy,
  ReportDimension,
  RiskReason,
  type DimensionFilterSchema,
  type ListRiskyAccountsResponse,
  type MarginRow,
  type RiskyAccount,
} from "../gen/tally/v1/reports_pb";
import { setParams } from "../router";
import { toTimestamp, windowFrom, windowParams } from "../time";
import { combined, useCall } from "../use_call";
import { CustomerLink } from "./run_parts";
import "./customers.css";

const PAGE_SIZE = 25;
/** The plan select's value for "no plan" (a plan name cannot hold a control character). */
const NO_PLAN = "\u0000none";
/** A DimensionFilter takes at most 1000 values. */
const MAX_FILTER_VALUES = 1000;

const SORTS: Record<string, MarginOrderBy> = {
  customer: MarginOrderBy.GROUP,
  revenue: MarginOrderBy.REVENUE,
  cost: MarginOrderBy.COST,
  margin: MarginOrderBy.MARGIN,
  "margin-percent": MarginOrderBy.MARGIN_PERCENT,
  events: MarginOrderBy.EVENT_COUNT,
};

type Filter = MessageInitShape<typeof DimensionFilterSchema>;

/** What the customer table shows: a page of rows with each customer's plans in the window. */
interface CustomerTable {
  rows: MarginRow[];
  totals: MarginRow | undefined;
  nextToken: string;
  plans: Map<string, string[]>;
  /** True when more customers matched the name than one filter takes. */
  idsCut: boolean;
}

export function Customers({ params }: { params: URLSearchParams }) {
  const window = windowFrom(params);
  const span = { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) };
  const sort = SORTS[params.get("sort") ?? ""] !== undefined ? params.get("sort")! : "cost";
  // With no sort in the URL the most expensive customers come first.
  const descending = params.has("sort") ? params.get("desc") === "1" : true;
  const page = params.get("page") ?? "";
  const plan = params.get("plan") ?? "";
  const noPlan = !plan && params.get("noplan") === "1";
  const name = (params.get("name") ?? "").trim();
  const risk = params.get("risk") ?? "50";
  const riskPage = params.get("riskpage") ?? "";
  const windowDeps = [window.start.getTime(), window.end.getTime()];

  const [plans] = useCall(
    "Plans of the window",
    () => api.reports.getMargin({ ...span, groupBy: [ReportDimension.PLAN], orderBy: MarginOrderBy.GROUP, pageSize: 1000 }),
    windowDeps,
  );

  const [table] = useCall(
    "Margin by customer",
    async (): Promise<CustomerTable> => {
      const filters: Filter[] = [];
      if (plan || noPlan) filters.push({ dimension: ReportDimension.PLAN, values: [noPlan ? "" : plan] });
      let idsCut = false;
      if (name) {
        // The directory finds names and aliases by prefix; the text may also be an exact id.
        const found = await customerIdsByName(name);
        const ids = found.ids.includes(name) ? found.ids : [name, ...found.ids].slice(0, MAX_FILTER_VALUES);
        idsCut = found.cut || (!found.ids.includes(name) && found.ids.length >= MAX_FILTER_VALUES);
        filters.push({ dimension: ReportDimension.CUSTOMER, values: ids });
      }
      const margin = await api.reports.getMargin({
        ...span,
        groupBy: [ReportDimension.CUSTOMER],
        filters,
        orderBy: SORTS[sort],
        descending,
        pageSize: PAGE_SIZE,
        pageToken: page,
      });
      const ids = margin.rows.map((row) => row.groupValues[0]?.value ?? "");
      const plansOf = ids.length ? await plansInWindow(span, filters, ids) : new Map<string, string[]>();
      return { rows: margin.rows, totals: margin.totals, nextToken: margin.nextPageToken, plans: plansOf, idsCut };
    },
    [...windowDeps, sort, descending, page, plan, noPlan, name],
  );

  const [risky] = useCall(
    "Risky accounts",
    () =>
      api.reports.listRiskyAccounts({
        ...span,
        costShareThresholdPercent: risk,
        includeNegativeMargin: true,
        pageSize: PAGE_SIZE,
        pageToken: riskPage,
      }),
    [...windowDeps, risk, riskPage],
  );

  const query = windowParams(window);
  return (
    <Page name="customers" title="Customers" state={combined(plans, table, risky)} actions={<WindowPicker window={window} />}>
      <Filters plans={plans.state === "ready" ? plans.data.rows.map((row) => row.groupValues[0]?.value ?? "") : []} plan={plan} noPlan={noPlan} name={name} />
      <Section name="customers" title="Margin by customer" call={table}>
        {(data) => (
            <>
              {data.idsCut && (
                <p class="notice">
                  More than {MAX_FILTER_VALUES} customers' names start with “{name}”: the table holds the first {MAX_FILTER_VALUES} by id. Type more
                  of the name to narrow it.
                </p>
              )}
              {data.rows.length === 0 ? (
                <Empty>
                  {name
                    ? `No customer whose name or alias starts with “${name}”, or whose id is “${name}”, had events, runs or revenue in this window${plan || noPlan ? " on this plan" : ""}.`
                    : `No customer had events, runs or revenue in this window${plan || noPlan ? " on this plan" : ""}.`}
                </Empty>
              ) : (
                <table class="customers-table">
                  <thead>
                    <tr>
                      <SortHeader column="customer" sort={sort} descending={descending}>
                        Customer
                      </SortHeader>
                      <th scope="col" title="The plans in force for the customer's events and fees in this window">
                        Plan
                      </th>
                      <SortHeader column="revenue" sort={sort} descending={descending} numeric>
                        Revenue
                      </SortHeader>
                      <SortHeader column="cost" sort={sort} descending={descending} numeric>
                        Cost
                      </SortHeader>
                      <SortHeader column="margin" sort={sort} descending={descending} numeric>
                        Margin
                      </SortHeader>
                      <SortHeader column="margin-percent" sort={sort} descending={descending} numeric>
                        Margin %
                      </SortHeader>
                      <SortHeader column="events" sort={sort} descending={descending} numeric>
                        Events
                      </SortHeader>
                      <th scope="col" class="num" title="Events with a line of unknown cost (no price or no volume)">
                        Unpriced
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.rows.map((row) => {
                      const customer = row.groupValues[0];
                      const id = customer?.value ?? "";
                      return (
                        <tr key={id} data-customer={id}>
                          <td>
                            <CustomerLink id={id} name={customer?.displayName} query={query} />
                          </td>
                          <td>
                            <PlanNames names={data.plans.get(id) ?? []} />
                          </td>
                          <td class="num">
                            <Money figure="revenue" value={row.revenueUsd} />
                          </td>
                          <td class="num">
                            <Money figure="cost" value={row.costUsd} />
                          </td>
                          <td class="num">
                            <Money figure="margin" value={row.marginUsd} />
                          </td>
                          <td class="num">
                            <Percent figure="margin-percent" value={row.marginPercent} />
                          </td>
                          <td class="num">
                            <Count figure="events" value={row.eventCount} />
                          </td>
                          <td class="num">
                            <Count figure="unpriced" value={row.unpricedEventCount} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                  {data.totals && (
                    <tfoot>
                      <tr data-totals="">
                        <th scope="row" colSpan={2}>
                          All customers{plan || noPlan || name ? " matching" : ""} (every page)
                        </th>
                        <td class="num">
                          <Money figure="revenue" value={data.totals.revenueUsd} />
                        </td>
                        <td class="num">
                          <Money figure="cost" value={data.totals.costUsd} />
                        </td>
                        <td class="num">
                          <Money figure="margin" value={data.totals.marginUsd} />
                        </td>
                        <td class="num">
                          <Percent figure="margin-percent" value={data.totals.marginPercent} />
                        </td>
                        <td class="num">
                          <Count figure="events" value={data.totals.eventCount} />
                        </td>
                        <td class="num">
                          <Count figure="unpriced" value={data.totals.unpricedEventCount} />
                        </td>
                      </tr>
                    </tfoot>
                  )}
                </table>
              )}
              <Pager nextToken={data.nextToken} onFirst={!page} />
              <p class="note">
                Plan: the plans in force for the customer's events and fees in this window. Revenue is the plan fees prorated to the window
                plus usage revenue; unpriced events are not in the cost until they get a price or their volume.
              </p>
            </>
          )}
      </Section>
      {/* Not a <Section>: the threshold's form stays when the call fails (a threshold the API refuses). */}
      <section class="card" data-section="risky" data-state={risky.state} aria-busy={risky.state === "loading"}>
        <h2>Risky accounts</h2>
        <RiskForm risk={risk} />
        {risky.state === "loading" && <p class="loading">Loading…</p>}
        {risky.state === "error" && <ErrorBox message={risky.message} />}
        {risky.state === "ready" && <RiskyAccounts data={risky.data} risk={risk} riskPage={riskPage} query={query} />}
      </section>
    </Page>
  );
}

/** The accounts of one page of ListRiskyAccounts, with their own "more" button (URL `riskpage`). */
function RiskyAccounts({ data, risk, riskPage, query }: { data: ListRiskyAccountsResponse; risk: string; riskPage: string; query: Record<string, string> }) {
  return (
    <>
      {data.accounts.length === 0 ? (
        <Empty>No account's cost is above {risk} % of its revenue, and none has a negative margin, in this window.</Empty>
      ) : (
        <table class="risky-table">
          <thead>
            <tr>
              <th scope="col">Customer, why listed</th>
              <th scope="col" class="num">
                Revenue
              </th>
              <th scope="col" class="num">
                Cost
              </th>
              <th scope="col" class="num">
                Margin
              </th>
              <th scope="col" class="num" title="Cost as a percentage of revenue">
                Cost share
              </th>
              <th scope="col" class="num">
                Events
              </th>
              <th scope="col">Cost the most</th>
            </tr>
          </thead>
          <tbody>
            {data.accounts.map((account) => (
              <RiskyRow key={account.customerId} account={account} risk={risk} query={query} />
            ))}
          </tbody>
        </table>
      )}
      {(data.nextPageToken || riskPage) && (
        <nav class="pager" aria-label="Risky accounts pages">
          {riskPage && (
            <button type="button" onClick={() => setParams({ riskpage: undefined })}>
              First risky accounts
            </button>
          )}
          {data.nextPageToken && (
            <button type="button" data-action="next-risky-page" onClick={() => setParams({ riskpage: data.nextPageToken })}>
              More risky accounts
            </button>
          )}
        </nav>
      )}
    </>
  );
}

/** The ids of the customers whose display name or an alias starts with `prefix` (at most 1000). */
async function customerIdsByName(prefix: string): Promise<{ ids: string[]; cut: boolean }> {
  const ids: string[] = [];
  let token = "";
  try {
    do {
      const page = await api.directory.listCustomers({ namePrefix: prefix, pageSize: 100, pageToken: token });
      ids.push(...page.customers.map((customer) => customer.customerId));
      token = page.nextPageToken;
    } while (token && ids.length < MAX_FILTER_VALUES);
  } catch (error) {
    throw new Error(describeError(`finding the customers named “${prefix}…” (Directory.ListCustomers)`, error));
  }
  return { ids: ids.slice(0, MAX_FILTER_VALUES), cut: Boolean(token) || ids.length > MAX_FILTER_VALUES };
}

/**
 * The plans each listed customer had in the window: the same report grouped by customer and plan,
 * for just these customers (a customer whose plan changed in the window has two).
 */
async function plansInWindow(span: { startTime: ReturnType<typeof toTimestamp>; endTime: ReturnType<typeof toTimestamp> }, filters: Filter[], ids: string[]) {
  const plans = new Map<string, string[]>();
  try {
    const response = await api.reports.getMargin({
      ...span,
      groupBy: [ReportDimension.CUSTOMER, ReportDimension.PLAN],
      filters: [...filters.filter((filter) => filter.dimension !== ReportDimension.CUSTOMER), { dimension: ReportDimension.CUSTOMER, values: ids }],
      orderBy: MarginOrderBy.GROUP,
      pageSize: 1000,
    });
    for (const row of response.rows) {
      const [customer, plan] = row.groupValues;
      const id = customer?.value ?? "";
      plans.set(id, [...(plans.get(id) ?? []), plan?.value ?? ""]);
    }
  } catch (error) {
    throw new Error(describeError("the plans of the listed customers (GetMargin by customer and plan)", error));
  }
  return plans;
}

function PlanNames({ names }: { names: string[] }) {
  if (names.length === 0) return <span class="muted">—</span>;
  return (
    <>
      {names.map((name) => (
        <span key={name} class="tag" data-plan={name}>
          {name || "no plan"}
        </span>
      ))}
    </>
  );
}

/** Plan and name filters, kept in the URL (`plan` or `noplan`, `name`); a change goes to the first page. */
function Filters({ plans, plan, noPlan, name }: { plans: string[]; plan: string; noPlan: boolean; name: string }) {
  const [text, setText] = useState(name);
  useEffect(() => setText(name), [name]);
  const named = plans.filter((value) => value !== "");
  if (plan && !named.includes(plan)) named.push(plan);
  const selected = noPlan ? NO_PLAN : plan;
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        setParams({ name: text.trim() || undefined, page: undefined });
      }}
    >
      <label>
        Plan
        <select
          name="plan"
          value={selected}
          onChange={(event) => {
            const value = event.currentTarget.value;
            setParams({
              plan: value && value !== NO_PLAN ? value : undefined,
              noplan: value === NO_PLAN ? "1" : undefined,
              page: undefined,
            });
          }}
        >
          <option value="">Every plan</option>
          {named.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
          <option value={NO_PLAN}>No plan</option>
        </select>
      </label>
      <label>
        Name or alias starts with, or id
        <input name="name" type="search" value={text} onInput={(event) => setText(event.currentTarget.value)} autocomplete="off" />
      </label>
      <button type="submit" data-action="filter">
        Filter
      </button>
      {(plan || noPlan || name) && (
        <button type="button" data-action="clear-filters" onClick={() => setParams({ plan: undefined, noplan: undefined, name: undefined, page: undefined })}>
          Clear filters
        </button>
      )}
    </form>
  );
}

/** The cost share threshold, kept in the URL as `risk` (a percentage, "50" when absent). */
function RiskForm({ risk }: { risk: string }) {
  const [text, setText] = useState(risk);
  useEffect(() => setText(risk), [risk]);
  return (
    <form
      class="filters"
      onSubmit={(event) => {
        event.preventDefault();
        const value = text.trim();
        setParams({ risk: value === "50" ? undefined : value, riskpage: undefined });
      }}
    >
      <label>
        Cost above this % of revenue
        <input name="risk" inputMode="decimal" size={8} value={text} onInput={(event) => setText(event.currentTarget.value)} />
      </label>
      <button type="submit" data-action="set-risk">
        Show
      </button>
      <span class="note">Accounts with a negative margin or cost without revenue are listed too; worst first.</span>
    </form>
  );
}

/** A reason in a few words, and the contract's meaning for the hover. */
function reasonWords(reason: RiskReason, account: RiskyAccount, risk: string): [string, string] {
  switch (reason) {
    case RiskReason.COST_SHARE_OVER_THRESHOLD:
      return [`Cost over ${risk} % of revenue`, `Cost is ${account.costPercentOfRevenue || "?"} % of a revenue above zero, over the ${risk} % asked.`];
    case RiskReason.NEGATIVE_MARGIN:
      return ["Negative margin", "Cost is above revenue."];
    case RiskReason.NO_REVENUE:
      return ["No revenue", "Cost with no revenue at all: no plan fee and no usage revenue in the window."];
    default:
      return [`Reason ${reason}`, "A reason this console does not know."];
  }
}

const REASON_KEYS: Record<number, string> = {
  [RiskReason.COST_SHARE_OVER_THRESHOLD]: "cost-share",
  [RiskReason.NEGATIVE_MARGIN]: "negative-margin",
  [RiskReason.NO_REVENUE]: "no-revenue",
};

function RiskyRow({ account, risk, query }: { account: RiskyAccount; risk: string; query: Record<string, string> }) {
  return (
    <tr data-customer={account.customerId}>
      <td>
        <CustomerLink id={account.customerId} name={account.displayName} query={query} />
        {account.plan && <div class="muted small">Plan {account.plan.name}</div>}
        <div class="reasons">
          {account.reasons.map((reason) => (
            <span key={reason} class="flag reason" data-reason={REASON_KEYS[reason] ?? String(reason)} title={reasonWords(reason, account, risk)[1]}>
              {reasonWords(reason, account, risk)[0]}
            </span>
          ))}
        </div>
      </td>
      <td class="num">
        <Money figure="revenue" value={account.revenueUsd} />
      </td>
      <td class="num">
        <Money figure="cost" value={account.costUsd} />
      </td>
      <td class="num">
        <Money figure="margin" value={account.marginUsd} />
      </td>
      <td class="num">
        <Percent figure="cost-percent-of-revenue" value={account.costPercentOfRevenue} />
      </td>
      <td class="num">
        <Count figure="events" value={account.eventCount} />
        {account.unpricedEventCount > 0n && (
          <div class="muted small">
            <Count figure="unpriced" value={account.unpricedEventCount} /> unpriced
          </div>
        )}
      </td>
      <td class="top-spend">
        {account.topAgentCode ? (
          <div data-agent={account.topAgentCode}>
            <span class="muted">agent</span> {account.topAgentCode}: <Money figure="top-agent-cost" value={account.topAgentCostUsd} />
          </div>
        ) : null}
        {account.topModel ? (
          <div data-model={`${account.topProvider}/${account.topModel}`}>
            <span class="muted">model</span> {account.topProvider}/{account.topModel}: <Money figure="top-model-cost" value={account.topModelCostUsd} />
          </div>
        ) : null}
        {!account.topAgentCode && !account.topModel && <span class="muted">—</span>}
      </td>
    </tr>
  );
}
