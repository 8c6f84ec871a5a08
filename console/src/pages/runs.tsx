// Runs of the URL's window: the most expensive (Reports.ListTopRuns), or every run newest first
// with status and flag filters (Runs.ListRuns), each with its flags, status, customer and cost.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Empty, Page, Section } from "../components/page";
import { Pager, SortHeader } from "../components/table";
import { WindowPicker } from "../components/window_picker";
import { RunFlag, RunStatus } from "../gen/tally/v1/common_pb";
import { RunOrderBy, type Run } from "../gen/tally/v1/runs_pb";
import { href, setParams } from "../router";
import { toTimestamp, windowFrom, windowParams } from "../time";
import { useCall } from "../use_call";
import { FLAGS, RunsTable } from "./run_parts";
import "./runs.css";

const LIMITS = ["10", "25", "50", "100"];
const PAGE_SIZE = 25;
const STATUSES: [string, RunStatus, string][] = [
  ["running", RunStatus.RUNNING, "Running"],
  ["completed", RunStatus.COMPLETED, "Completed"],
  ["failed", RunStatus.FAILED, "Failed or cancelled"],
];

export function Runs({ params }: { params: URLSearchParams }) {
  const window = windowFrom(params);
  const span = { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) };
  const view = params.get("view") === "all" ? "all" : "top";
  const customer = params.get("customer") ?? "";
  const agent = params.get("agent") ?? "";
  const limit = clampLimit(params.get("limit"));
  const status = STATUSES.find(([key]) => key === params.get("status"));
  const flag = FLAGS.find((entry) => entry.key === params.get("flag"));
  const sort = params.get("sort") === "cost" ? "cost" : "started";
  const descending = params.has("sort") ? params.get("desc") === "1" : true;
  const page = params.get("page") ?? "";

  const [runs] = useCall(
    view === "top" ? "Top runs" : "Runs",
    async (): Promise<{ runs: Run[]; nextToken: string }> => {
      if (view === "top") {
        const response = await api.reports.listTopRuns({ ...span, limit, customerId: customer, agentCode: agent });
        return { runs: response.runs, nextToken: "" };
      }
      const response = await api.runs.listRuns({
        ...span,
        customerId: customer,
        agentCode: agent,
        status: status?.[1] ?? RunStatus.UNSPECIFIED,
        flag: flag?.flag ?? RunFlag.UNSPECIFIED,
        orderBy: sort === "cost" ? RunOrderBy.COST : RunOrderBy.START_TIME,
        descending,
        pageSize: PAGE_SIZE,
        pageToken: page,
      });
      return { runs: response.runs, nextToken: response.nextPageToken };
    },
    [window.start.getTime(), window.end.getTime(), view, customer, agent, limit, status?.[0], flag?.key, sort, descending, page],
  );

  const query = windowParams(window);
  const viewLink = (name: "top" | "all") =>
    href("/runs", { ...query, view: name === "all" ? "all" : undefined, customer, agent, limit: name === "top" ? params.get("limit") ?? undefined : undefined });
  const filtered = Boolean(customer || agent || status || flag);
  return (
    <Page name="runs" title="Runs" state={runs.state} actions={<WindowPicker window={window} />}>
      <nav class="segmented" aria-label="Which runs">
        <a href={viewLink("top")} aria-current={view === "top" ? "true" : undefined} data-view="top">
          Most expensive
        </a>
        <a href={viewLink("all")} aria-current={view === "all" ? "true" : undefined} data-view="all">
          All runs
        </a>
      </nav>
      <RunFilters view={view} customer={customer} agent={agent} limit={String(limit)} status={status?.[0] ?? ""} flag={flag?.key ?? ""} />
      <Section
        name="runs"
        title={view === "top" ? `The ${limit} most expensive runs started in this window` : "Runs started in this window"}
        call={runs}
      >
        {(data) => (
          <>
            {data.runs.length === 0 ? (
              <Empty>No run started in this window{filtered ? " with these filters" : ""}.</Empty>
            ) : view === "top" ? (
              <RunsTable runs={data.runs} query={query} />
            ) : (
              <RunsTable
                runs={data.runs}
                query={query}
                costHeader={
                  <SortHeader column="cost" sort={sort} descending={descending} numeric>
                    Cost
                  </SortHeader>
                }
                startHeader={
                  <SortHeader column="started" sort={sort} descending={descending}>
                    Started
                  </SortHeader>
                }
              />
            )}
            {view === "all" && <Pager nextToken={data.nextToken} onFirst={!page} />}
            <p class="note">
              Cost is the sum of the run's priced steps; steps of unknown cost are counted apart, never as zero. Under the start: how long
              it ran, from its first event to its last. Steps in brackets: those of unknown cost. Hover a flag for what raised it.
            </p>
          </>
        )}
      </Section>
    </Page>
  );
}

function clampLimit(text: string | null): number {
  const value = Number.parseInt(text ?? "", 10);
  if (!Number.isFinite(value) || value < 1) return 25;
  return Math.min(100, value);
}

interface RunFiltersProps {
  view: "top" | "all";
  customer: string;
  agent: string;
  limit: string;
  status: string;
  flag: string;
}

/** Customer and agent (exact, as the API compares them), and per view the limit or status and flag. */
function RunFilters({ view, customer, agent, limit, status, flag }: RunFiltersProps) {
  const [customerText, setCustomerText] = useState(customer);
  const [agentText, setAgentText] = useState(agent);
  useEffect(() => setCustomerText(customer), [customer]);
  useEffect(() => setAgentText(agent), [agent]);
  const apply = (changes: Record<string, string | undefined>) => setParams({ ...changes, page: undefined });
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        apply({ customer: customerText.trim() || undefined, agent: agentText.trim() || undefined });
      }}
    >
      <label>
        Customer id
        <input name="customer" value={customerText} onInput={(event) => setCustomerText(event.currentTarget.value)} autocomplete="off" />
      </label>
      <label>
        Agent
        <input name="agent" value={agentText} onInput={(event) => setAgentText(event.currentTarget.value)} autocomplete="off" />
      </label>
      {view === "top" ? (
        <label>
          How many
          <select name="limit" value={LIMITS.includes(limit) ? limit : ""} onChange={(event) => apply({ limit: event.currentTarget.value === "25" ? undefined : event.currentTarget.value })}>
            {!LIMITS.includes(limit) && <option value="">{limit}</option>}
            {LIMITS.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
      ) : (
        <>
          <label>
            Status
            <select name="status" value={status} onChange={(event) => apply({ status: event.currentTarget.value || undefined })}>
              <option value="">Any</option>
              {STATUSES.map(([key, , words]) => (
                <option key={key} value={key}>
                  {words}
                </option>
              ))}
            </select>
          </label>
          <label>
            Flag
            <select name="flag" value={flag} onChange={(event) => apply({ flag: event.currentTarget.value || undefined })}>
              <option value="">Any or none</option>
              {FLAGS.map((entry) => (
                <option key={entry.key} value={entry.key}>
                  {entry.name}
                </option>
              ))}
            </select>
          </label>
        </>
      )}
      <button type="submit" data-action="filter">
        Filter
      </button>
      {(customer || agent || status || flag) && (
        <button type="button" data-action="clear-filters" onClick={() => apply({ customer: undefined, agent: undefined, status: undefined, flag: undefined })}>
          Clear filters
        </button>
      )}
    </form>
  );
}
