// One run (Runs.GetRun): status, who it ran for, times, cost in total and per model as the server
// sums them, outcomes, flags and open holds; then its events (Ingest.ListEvents by run), each with
// its lines, models and the costs the API gives. Nothing is added up here.
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { api } from "../api";
import { Empty, Page, Section } from "../components/page";
import { Pager } from "../components/table";
import { Count, Money, Tile, Time } from "../components/values";
import { EventStatus, type TokenUsage } from "../gen/tally/v1/common_pb";
import type { CostEvent, EventLine } from "../gen/tally/v1/ingest_pb";
import { OutcomeValueKind, type Outcome, type Run } from "../gen/tally/v1/runs_pb";
import { href, useLocation } from "../router";
import { fromTimestamp, thisMonth, windowParams } from "../time";
import { combined, useCall } from "../use_call";
import { CustomerLink, DurationText, flagInfo, Status } from "./run_parts";
import "./runs.css";

const EVENTS_PAGE = 50;

export function RunDetail({ runId }: { runId: string }) {
  const { params } = useLocation();
  const page = params.get("page") ?? "";

  // NOT_FOUND is an answer here (no such run), not a failure of the page.
  const [run] = useCall(
    `Run ${runId}`,
    async (): Promise<Run | null> => {
      try {
        return (await api.runs.getRun({ runId })).run ?? null;
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.NotFound) return null;
        throw error;
      }
    },
    [runId],
  );
  const [events] = useCall("The run's events", () => api.ingest.listEvents({ runId, pageSize: EVENTS_PAGE, pageToken: page }), [runId, page]);

  if (run.state === "ready" && run.data === null) {
    return (
      <Page name="run" title={`Run ${runId}`} state="error">
        <section class="card" data-section="run" data-state="error">
          <p class="error" role="alert" data-not-found={runId}>
            No run “{runId}”: Runs.GetRun answered NOT_FOUND. Run ids are exact and case-sensitive.
          </p>
          <p>
            <a href={href("/runs")}>All runs</a>
          </p>
        </section>
      </Page>
    );
  }

  return (
    <Page name="run" title={`Run ${runId}`} state={combined(run, events)}>
      <p class="breadcrumbs">
        <a href={href("/runs")}>Runs</a> › <span class="id">{runId}</span>
      </p>
      <Section name="run" call={run}>
        {(data) => (data ? <RunSummary run={data} /> : null)}
      </Section>
      {run.state === "ready" && run.data && <RunParts run={run.data} />}
      <Section name="events" title="Events (its steps), newest first" call={events}>
        {({ events: list, nextPageToken }) =>
          list.length === 0 ? (
            <Empty>No event names this run yet.</Empty>
          ) : (
            <>
              <EventsTable events={list} />
              <Pager nextToken={nextPageToken} onFirst={!page} />
            </>
          )
        }
      </Section>
    </Page>
  );
}

function RunSummary({ run }: { run: Run }) {
  const customer = run.customer;
  // Links to the customer and the agent show the UTC month the run started in.
  const started = fromTimestamp(run.startTime);
  const month = started ? windowParams(thisMonth(started)) : {};
  return (
    <>
      <div class="tiles">
        <Tile label="Total cost">
          <Money figure="cost" value={run.totalCostUsd} />
        </Tile>
        <Tile label="Events">
          <Count figure="events" value={run.eventCount} />
        </Tile>
        <Tile label="Steps">
          <Count figure="steps" value={run.stepCount} />
        </Tile>
        <Tile label="Unpriced steps">
          <Count figure="unpriced" value={run.unpricedStepCount} />
        </Tile>
        <Tile label="First to last event">
          <DurationText value={run.duration} />
        </Tile>
      </div>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status run={run} />
          {run.failureReason && <span class="failure-reason"> — {run.failureReason}</span>}
        </dd>
        <dt>Agent</dt>
        <dd data-agent={run.agentCode}>
          <a href={href("/runs", { ...month, agent: run.agentCode })}>{run.agentCode}</a>
        </dd>
        <dt>Customer</dt>
        <dd data-customer={customer?.id ?? ""}>
          <CustomerLink id={customer?.id ?? ""} name={customer?.name} query={month} />
          {customer?.plan && <span class="muted"> on plan {customer.plan.name} at the start</span>}
        </dd>
        <dt>User</dt>
        <dd data-field="user">{run.userId || <span class="muted">none</span>}</dd>
        <dt>Started</dt>
        <dd>
          <Time value={run.startTime} />
        </dd>
        <dt>Ended</dt>
        <dd>{run.endTime ? <Time value={run.endTime} /> : <span class="muted">not yet</span>}</dd>
        <dt>First event</dt>
        <dd>
          <Time value={run.firstEventTime} />
        </dd>
        <dt>Last event</dt>
        <dd>
          <Time value={run.lastEventTime} />
        </dd>
        {run.holdOverrunUsd && (
          <>
            <dt>Steps above their holds</dt>
            <dd>
              <Money figure="hold-overrun" value={run.holdOverrunUsd} />
            </dd>
          </>
        )}
      </dl>
      {run.metadata && Object.keys(run.metadata).length > 0 && <Metadata value={run.metadata} />}
    </>
  );
}

function Metadata({ value }: { value: JsonObject }) {
  return (
    <details class="metadata">
      <summary>Metadata</summary>
      <pre>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

/** Cost per model, outcomes, flags and open holds: all as GetRun returns them. */
function RunParts({ run }: { run: Run }) {
  return (
    <>
      <section class="card" data-section="models" data-state="ready">
        <h2>Cost by model</h2>
        {run.modelCosts.length === 0 ? (
          <Empty>No step has a model yet.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col" class="num">
                  Cost
                </th>
                <th scope="col" class="num">
                  Steps
                </th>
                <th scope="col" class="num">
                  Unpriced steps
                </th>
                <th scope="col">Tokens</th>
              </tr>
            </thead>
            <tbody>
              {run.modelCosts.map((model) => (
                <tr key={`${model.provider}/${model.model}`} data-model={`${model.provider}/${model.model}`}>
                  <td>
                    {model.provider}/{model.model}
                  </td>
                  <td class="num">
                    <Money figure="cost" value={model.costUsd} />
                  </td>
                  <td class="num">
                    <Count figure="steps" value={model.stepCount} />
                  </td>
                  <td class="num">
                    <Count figure="unpriced" value={model.unpricedStepCount} />
                  </td>
                  <td>
                    <Tokens tokens={model.tokens} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <div class="columns">
        <section class="card" data-section="outcomes" data-state="ready">
          <h2>Outcomes</h2>
          {run.outcomes.length === 0 ? (
            <Empty>No outcome recorded.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Outcome</th>
                  <th scope="col" class="num">
                    Value
                  </th>
                  <th scope="col">Recorded</th>
                </tr>
              </thead>
              <tbody>
                {run.outcomes.map((outcome, index) => (
                  <tr key={index} data-outcome={outcome.name}>
                    <td>
                      {outcome.name}
                      {outcome.metadata && Object.keys(outcome.metadata).length > 0 && <Metadata value={outcome.metadata} />}
                    </td>
                    <td class="num">
                      <OutcomeValue outcome={outcome} />
                    </td>
                    <td>
                      <Time value={outcome.recordTime} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section class="card" data-section="flags" data-state="ready">
          <h2>Flags</h2>
          {run.flags.length === 0 ? (
            <Empty>No waste or risk flag raised.</Empty>
          ) : (
            <ul class="flag-list">
              {run.flags.map((detail, index) => {
                const info = flagInfo(detail.flag);
                return (
                  <li key={index} data-flag={info.key}>
                    <span class="flag">{info.name}</span>
                    {detail.step !== undefined && <span> at step {detail.step.toString()}</span>}
                    {detail.budgetId && (
                      <span>
                        {" "}
                        of budget <a href={href("/budgets")}>{detail.budgetId}</a>
                      </span>
                    )}
                    <div>{detail.detail || info.meaning}</div>
                    {detail.detail && plain(detail.detail) !== plain(info.meaning) && <div class="muted small">{info.meaning}</div>}
                  </li>
                );
              })}
            </ul>
          )}
        </section>
      </div>
      {run.openHolds.length > 0 && (
        <section class="card" data-section="holds" data-state="ready">
          <h2>Open holds</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Hold</th>
                <th scope="col">Agent</th>
                <th scope="col" class="num">
                  Set aside
                </th>
                <th scope="col">Placed</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {run.openHolds.map((hold) => (
                <tr key={hold.holdId} data-hold={hold.holdId}>
                  <td class="id">{hold.holdId}</td>
                  <td>{hold.agentCode}</td>
                  <td class="num">
                    <Money figure="hold-amount" value={hold.amountUsd} />
                  </td>
                  <td>
                    <Time value={hold.createTime} />
                  </td>
                  <td>
                    <Time value={hold.expireTime} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}

/** USD as money; units as a count when whole (the API sends 10 decimal places), else the decimal. */
function OutcomeValue({ outcome }: { outcome: Outcome }) {
  if (!outcome.value) return <span class="muted">—</span>;
  if (outcome.valueKind === OutcomeValueKind.USD) return <Money figure="outcome-value" value={outcome.value} />;
  const [whole, fraction = ""] = outcome.value.split(".");
  if (/^\d+$/.test(whole) && /^0*$/.test(fraction)) {
    return (
      <>
        <Count figure="outcome-units" value={BigInt(whole)} /> units
      </>
    );
  }
  return (
    <span class="count" data-figure="outcome-units" data-value={outcome.value}>
      {outcome.value.replace(/0+$/, "")} units
    </span>
  );
}

function Tokens({ tokens }: { tokens: TokenUsage | undefined }) {
  if (!tokens) return <span class="muted">—</span>;
  const parts: [string, string, bigint][] = [
    ["input-tokens", "in", tokens.inputTokens],
    ["output-tokens", "out", tokens.outputTokens],
    ["cached-input-tokens", "cached", tokens.cachedInputTokens],
    ["cache-creation-tokens", "cache write", tokens.cacheCreationTokens],
    ["reasoning-tokens", "reasoning", tokens.reasoningTokens],
  ];
  const shown = parts.filter(([, , value], index) => index < 2 || value > 0n);
  return (
    <span class="tokens">
      {shown.map(([figure, words, value]) => (
        <span key={figure}>
          <Count figure={figure} value={value} /> {words}
        </span>
      ))}
    </span>
  );
}

const EVENT_STATUS: Record<number, [string, string]> = {
  [EventStatus.PROCESSED]: ["priced", "Priced"],
  [EventStatus.MISSING_VOLUME_DATA]: ["missing-volume", "Missing volume"],
  [EventStatus.NEEDS_COST_BACKFILL]: ["no-price", "No price"],
};

function EventStatusTag({ status }: { status: EventStatus }) {
  const [key, words] = EVENT_STATUS[status] ?? [`status-${status}`, `Status ${status}`];
  return (
    <span class={key === "priced" ? "tag" : "flag"} data-status={key}>
      {words}
    </span>
  );
}

/** Each event with its lines: model as sent (and as priced when mapped), tokens, the line's cost. */
function EventsTable({ events }: { events: CostEvent[] }) {
  return (
    <table class="events-table">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Status</th>
          <th scope="col">Model and tokens (each line)</th>
          <th scope="col" class="num">
            Event cost
          </th>
          <th scope="col">Signal</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event) => (
          <tr key={event.eventId} data-event={event.eventId} data-agent={event.agentCode}>
            <td>
              <Time value={event.usageTime} />
              <div class="id small" title="Event id">
                {event.eventId}
              </div>
            </td>
            <td>
              <EventStatusTag status={event.status} />
            </td>
            <td>
              <ul class="lines">
                {event.lines.map((line) => (
                  <EventLineItem key={line.index} line={line} several={event.lines.length > 1} />
                ))}
              </ul>
              {event.error && <p class="event-error small">{event.error}</p>}
            </td>
            <td class="num">
              <Money figure="cost" value={event.totalCostUsd} />
              {event.status !== EventStatus.PROCESSED && event.totalCostUsd && <div class="muted small">partial: a line has no cost yet</div>}
            </td>
            <td>
              {event.signalName ? (
                <>
                  {event.signalName} × <Count figure="quantity" value={event.quantity} />
                </>
              ) : (
                <span class="muted">—</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EventLineItem({ line, several }: { line: EventLine; several: boolean }) {
  const usage = line.usage;
  const model = `${usage?.provider ?? ""}/${usage?.model ?? ""}`;
  const priced = line.pricedModel ? `${line.pricedProvider}/${line.pricedModel}` : "";
  return (
    <li data-model={model} data-line={line.index}>
      <div>
        <span class="line-model">{model}</span>
        {priced && priced !== model && <span class="muted small"> priced as {priced}</span>}
        {usage?.costUsd && <span class="muted small"> cost given by the caller</span>}
        {several && line.status !== EventStatus.PROCESSED && (
          <>
            {" "}
            <EventStatusTag status={line.status} />
          </>
        )}
      </div>
      <div class="line-figures small">
        {usage?.inputTokens !== undefined && (
          <span>
            <Count figure="input-tokens" value={usage.inputTokens} /> in
          </span>
        )}
        {usage?.outputTokens !== undefined && (
          <span>
            <Count figure="output-tokens" value={usage.outputTokens} /> out
          </span>
        )}
        {usage?.cachedInputTokens !== undefined && (
          <span>
            <Count figure="cached-input-tokens" value={usage.cachedInputTokens} /> cached
          </span>
        )}
        {usage?.quantity !== undefined && (
          <span>
            <Count figure="units" value={usage.quantity} /> units
          </span>
        )}
        {several && (
          <span>
            line cost <Money figure="line-cost" value={line.costUsd} />
          </span>
        )}
      </div>
    </li>
  );
}

// The server's detail often says what the flag means already; its meaning is then not repeated.
function plain(text: string): string {
  return text.toLowerCase().replace(/[.\s]+$/, "");
}
