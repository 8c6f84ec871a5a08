// One customer: who it is and its plans (Directory.GetCustomer), its figures for the URL's window,
// its cost and revenue per day, its most expensive runs, and its cost by agent and by model.
import { Code, ConnectError } from "@connectrpc/connect";
import { api } from "../api";
import { TimeChart } from "../components/chart";
import { Empty, Page, Section } from "../components/page";
import { Bar, Count, Money, Percent, Tile, Time } from "../components/values";
import { MarginTiles } from "../components/margin_tiles";
import { WindowPicker } from "../components/window_picker";
import type { Customer } from "../gen/tally/v1/directory_pb";
import { MarginOrderBy, ReportDimension, TimeGranularity, type MarginRow } from "../gen/tally/v1/reports_pb";
import { compareDecimal, shareOf } from "../money";
import { href } from "../router";
import { fromTimestamp, toTimestamp, windowFrom, windowParams } from "../time";
import { combined, useCall } from "../use_call";
import { RunsTable } from "./run_parts";
import "./customers.css";

const TOP_RUNS = 10;
const BREAKDOWN_ROWS = 100;

export function CustomerDetail({ customerId, params }: { customerId: string; params: URLSearchParams }) {
  const window = windowFrom(params);
  const span = { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) };
  const only = [{ dimension: ReportDimension.CUSTOMER, values: [customerId] }];
  const deps = [customerId, window.start.getTime(), window.end.getTime()];

  // NOT_FOUND is an answer here (no such customer), not a failure of the page's code.
  const [customer] = useCall(
    `Customer ${customerId}`,
    async (): Promise<Customer | null> => {
      try {
        return (await api.directory.getCustomer({ customerId })).customer ?? null;
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.NotFound) return null;
        throw error;
      }
    },
    [customerId],
  );
  const [figures] = useCall("The customer's figures", () => api.reports.getMargin({ ...span, filters: only }), deps);
  const [series] = useCall(
    "Cost and revenue per day",
    () => api.reports.getCostSeries({ ...span, granularity: TimeGranularity.DAY, filters: only }),
    deps,
  );
  const [runs] = useCall("Top runs", () => api.reports.listTopRuns({ ...span, customerId, limit: TOP_RUNS }), deps);
  const [agents] = useCall(
    "Cost by agent",
    () =>
      api.reports.getMargin({
        ...span,
        groupBy: [ReportDimension.AGENT],
        filters: only,
        orderBy: MarginOrderBy.COST,
        descending: true,
        pageSize: BREAKDOWN_ROWS,
      }),
    deps,
  );
  const [models] = useCall(
    "Cost by model",
    () =>
      api.reports.getMargin({
        ...span,
        groupBy: [ReportDimension.PROVIDER, ReportDimension.MODEL],
        filters: only,
        orderBy: MarginOrderBy.COST,
        descending: true,
        pageSize: BREAKDOWN_ROWS,
      }),
    deps,
  );

  const query = windowParams(window);
  if (customer.state === "ready" && customer.data === null) {
    return (
      <Page name="customer" title={`Customer ${customerId}`} state="error">
        <section class="card" data-section="customer" data-state="error">
          <p class="error" role="alert" data-not-found={customerId}>
            No customer “{customerId}”: Directory.GetCustomer answered NOT_FOUND. A customer exists once an event, a run or UpdateCustomer
            names its id (ids are exact and case-sensitive).
          </p>
          <p>
            <a href={href("/customers", query)}>All customers</a>
          </p>
        </section>
      </Page>
    );
  }

  const title = customer.state === "ready" && customer.data ? customer.data.displayName || customer.data.customerId : customerId;
  return (
    <Page
      name="customer"
      title={title}
      state={combined(customer, figures, series, runs, agents, models)}
      actions={<WindowPicker window={window} />}
    >
      <p class="breadcrumbs">
        <a href={href("/customers", query)}>Customers</a> › <span class="id">{customerId}</span>
      </p>
      <Section name="figures" title="This window" call={figures}>
        {({ totals }) => (totals ? <Figures totals={totals} /> : <Empty>No figures for this window.</Empty>)}
      </Section>
      <div class="columns">
        <Section name="customer" title="Customer" call={customer}>
          {(data) => (data ? <CustomerCard customer={data} /> : null)}
        </Section>
        <Section name="by-agent" title="Cost by agent" call={agents}>
          {({ rows, totals, nextPageToken }) =>
            rows.length === 0 ? (
              <Empty>No agent worked for this customer in this window.</Empty>
            ) : (
              <Breakdown
                rows={rows}
                total={totals?.costUsd ?? ""}
                more={Boolean(nextPageToken)}
                label="Agent"
                attribute="data-agent"
                name={(row) => row.groupValues[0]?.value ?? ""}
                link={(row) => href("/runs", { ...query, customer: customerId, agent: row.groupValues[0]?.value })}
              />
            )
          }
        </Section>
      </div>
      <Section name="series" title="Cost and revenue per day" call={series}>
        {(response) => {
          const whole = response.series[0];
          if (!whole || whole.buckets.length === 0) return <Empty>No days in this window.</Empty>;
          const zero = (value: string) => value === "" || compareDecimal(value, "0") === 0;
          if (whole.buckets.every((bucket) => bucket.eventCount === 0n && zero(bucket.costUsd) && zero(bucket.revenueUsd))) {
            return <Empty>No cost, revenue or events for this customer in this window.</Empty>;
          }
          const lines = [{ name: "Cost", className: "cost", values: whole.buckets.map((bucket) => bucket.costUsd) }];
          if (response.revenueAvailable) lines.push({ name: "Revenue", className: "revenue", values: whole.buckets.map((bucket) => bucket.revenueUsd) });
          return (
            <>
              <TimeChart title="Cost and revenue per day" granularity="day" labels={whole.buckets.map((bucket) => fromTimestamp(bucket.startTime)!)} series={lines} />
              {!response.revenueAvailable && response.revenueNote && <p class="note">{response.revenueNote}</p>}
            </>
          );
        }}
      </Section>
      <Section name="top-runs" title="Most expensive runs started in this window" call={runs}>
        {({ runs: list }) =>
          list.length === 0 ? (
            <Empty>No run of this customer started in this window.</Empty>
          ) : (
            <>
              <RunsTable runs={list} query={query} showCustomer={false} />
              <p>
                <a href={href("/runs", { ...query, customer: customerId })}>All runs of this customer in this window</a>
              </p>
            </>
          )
        }
      </Section>
      <Section name="by-model" title="Cost by model" call={models}>
        {({ rows, totals, nextPageToken }) =>
          rows.length === 0 ? (
            <Empty>No model was called for this customer in this window.</Empty>
          ) : (
            <Breakdown
              rows={rows}
              total={totals?.costUsd ?? ""}
              more={Boolean(nextPageToken)}
              label="Model"
              attribute="data-model"
              name={(row) => `${row.groupValues[0]?.value ?? ""}/${row.groupValues[1]?.value ?? ""}`}
              tokens
            />
          )
        }
      </Section>
    </Page>
  );
}

function CustomerCard({ customer }: { customer: Customer }) {
  return (
    <>
      <dl class="facts">
        <dt>Name</dt>
        <dd data-field="display-name">{customer.displayName || <span class="muted">none sent</span>}</dd>
        <dt>Id</dt>
        <dd class="id" data-field="customer-id">
          {customer.customerId}
        </dd>
        {customer.aliases.length > 0 && (
          <>
            <dt>Aliases</dt>
            <dd>
              {customer.aliases.map((alias) => (
                <span key={alias} class="tag">
                  {alias}
                </span>
              ))}
            </dd>
          </>
        )}
        <dt>Plan now</dt>
        <dd data-field="plan" data-plan={customer.plan?.name ?? ""}>
          {customer.plan ? (
            <>
              {customer.plan.name}, <Money figure="plan-monthly" value={customer.plan.monthlyUsd} /> a month
            </>
          ) : (
            <span class="muted">no plan</span>
          )}
        </dd>
        <dt>Created</dt>
        <dd>
          <Time value={customer.createTime} />
        </dd>
        <dt>First seen</dt>
        <dd>
          <Time value={customer.firstSeenTime} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time value={customer.lastSeenTime} />
        </dd>
      </dl>
      <h3>Plan history</h3>
      {customer.planHistory.length === 0 ? (
        <Empty>No plan yet.</Empty>
      ) : (
        <table class="plan-history">
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col" class="num">
                A month
              </th>
              <th scope="col">From</th>
              <th scope="col">Until</th>
            </tr>
          </thead>
          <tbody>
            {customer.planHistory.map((period, index) => (
              <tr key={index} data-plan={period.planName}>
                <td>{period.planName}</td>
                <td class="num">
                  <Money figure="plan-monthly" value={period.monthlyUsd} />
                </td>
                <td>
                  <Time value={period.startTime} />
                </td>
                <td>{period.endTime ? <Time value={period.endTime} /> : <span class="tag">in force</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Figures({ totals }: { totals: MarginRow }) {
  return (
    <>
      <MarginTiles totals={totals}>
        <Tile label="Unpriced events">
          <Count figure="unpriced" value={totals.unpricedEventCount} />
        </Tile>
      </MarginTiles>
      <dl class="facts small">
        <dt>Plan fees</dt>
        <dd>
          <Money figure="plan-revenue" value={totals.planRevenueUsd} />
        </dd>
        <dt>Usage revenue</dt>
        <dd>
          <Money figure="usage-revenue" value={totals.usageRevenueUsd} />
        </dd>
        <dt>Cost % of revenue</dt>
        <dd>
          <Percent figure="cost-percent-of-revenue" value={totals.costPercentOfRevenue} />
        </dd>
        {totals.runCountAvailable && (
          <>
            <dt>Runs started</dt>
            <dd>
              <Count figure="runs" value={totals.runCount} />
            </dd>
          </>
        )}
      </dl>
      {!totals.revenueAvailable && totals.revenueNote && <p class="note">{totals.revenueNote}</p>}
    </>
  );
}

interface BreakdownProps {
  rows: MarginRow[];
  total: string;
  more: boolean;
  label: string;
  attribute: "data-agent" | "data-model";
  name: (row: MarginRow) => string;
  link?: (row: MarginRow) => string;
  tokens?: boolean;
}

/** Rows of one grouping of the customer's cost, most expensive first, with a bar of each share. */
function Breakdown({ rows, total, more, label, attribute, name, link, tokens }: BreakdownProps) {
  return (
    <>
      <table class="breakdown">
        <thead>
          <tr>
            <th scope="col">{label}</th>
            <th scope="col" class="num">
              Cost
            </th>
            <th scope="col">Share</th>
            <th scope="col" class="num">
              Events
            </th>
            <th scope="col" class="num">
              Unpriced
            </th>
            {tokens && (
              <>
                <th scope="col" class="num">
                  Input tokens
                </th>
                <th scope="col" class="num">
                  Output tokens
                </th>
              </>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const value = name(row);
            const share = shareOf(row.costUsd, total);
            return (
              <tr key={value} {...{ [attribute]: value }}>
                <td>{link ? <a href={link(row)}>{value}</a> : value}</td>
                <td class="num">
                  <Money figure="cost" value={row.costUsd} />
                </td>
                <td>
                  <Bar share={share} label={`${value}: share of the customer's cost`} />
                </td>
                <td class="num">
                  <Count figure="events" value={row.eventCount} />
                </td>
                <td class="num">
                  <Count figure="unpriced" value={row.unpricedEventCount} />
                </td>
                {tokens && (
                  <>
                    <td class="num">
                      <Count figure="input-tokens" value={row.tokens?.inputTokens ?? 0n} />
                    </td>
                    <td class="num">
                      <Count figure="output-tokens" value={row.tokens?.outputTokens ?? 0n} />
                    </td>
                  </>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      {more && <p class="note">The {BREAKDOWN_ROWS} most expensive are shown.</p>}
    </>
  );
}
