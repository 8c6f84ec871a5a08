// What the runs pages share: a run's status and flags in words, its duration, and the table of runs
// (the runs list and a customer's top runs).
import type { ComponentChildren } from "preact";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { RunFlag, RunStatus, type RunFlagDetail } from "../gen/tally/v1/common_pb";
import type { Run } from "../gen/tally/v1/runs_pb";
import { Count, Money, Time } from "../components/values";
import { href } from "../router";
import { formatDuration } from "../time";
import "./run_parts.css";

/** A run's status in words; a failed run that was cancelled says so. */
export function statusWords(run: Pick<Run, "status" | "cancelled">): string {
  switch (run.status) {
    case RunStatus.RUNNING:
      return "Running";
    case RunStatus.COMPLETED:
      return "Completed";
    case RunStatus.FAILED:
      return run.cancelled ? "Cancelled" : "Failed";
    default:
      return "Unknown";
  }
}

/** The status as a URL and attribute word: running, completed, failed, cancelled. */
export function statusKey(run: Pick<Run, "status" | "cancelled">): string {
  return statusWords(run).toLowerCase();
}

export function Status({ run }: { run: Pick<Run, "status" | "cancelled"> }) {
  return (
    <span class={`run-status ${statusKey(run)}`} data-status={statusKey(run)}>
      {statusWords(run)}
    </span>
  );
}

/** Each flag: its name, its key (for URLs and tests) and what it means (the contract's words). */
export const FLAGS: { flag: RunFlag; key: string; name: string; meaning: string }[] = [
  {
    flag: RunFlag.CONTEXT_BLOAT,
    key: "context-bloat",
    name: "Context bloat",
    meaning: "A step's input tokens grew to several times those of the run's first steps.",
  },
  {
    flag: RunFlag.RUNAWAY_LOOP,
    key: "runaway-loop",
    name: "Runaway loop",
    meaning: "More steps than the threshold, or the same model called with the same token counts many times in a row.",
  },
  {
    flag: RunFlag.BUDGET_EXCEEDED,
    key: "budget-exceeded",
    name: "Budget exceeded",
    meaning: "The run's spend passed the limit of a budget that applies to it.",
  },
  {
    flag: RunFlag.STALE,
    key: "stale",
    name: "Stale",
    meaning: "Still running a configured time after its last event (or its start, without events).",
  },
];

export function flagInfo(flag: RunFlag) {
  return FLAGS.find((entry) => entry.flag === flag) ?? { flag, key: `flag-${flag}`, name: `Flag ${flag}`, meaning: "A flag this console does not know." };
}

/** The flags of a run as badges; the hover says what raised each. */
export function Flags({ flags }: { flags: RunFlagDetail[] }) {
  if (flags.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {flags.map((detail, index) => {
        const info = flagInfo(detail.flag);
        return (
          <span key={index} class="flag" data-flag={info.key} title={detail.detail || info.meaning}>
            {info.name}
            {detail.step !== undefined ? ` (step ${detail.step})` : ""}
          </span>
        );
      })}
    </>
  );
}

/** A protobuf Duration in milliseconds (time, not money: a JS number is fine). */
export function durationMs(duration: Duration | undefined): number | null {
  if (!duration) return null;
  return Number(duration.seconds) * 1000 + duration.nanos / 1_000_000;
}

export function DurationText({ value }: { value: Duration | undefined }) {
  const ms = durationMs(value);
  return ms === null ? <span class="muted">—</span> : <span class="duration" data-ms={String(Math.round(ms))}>{formatDuration(ms)}</span>;
}

/** A customer as a link to its page, kept in the same window. */
export function CustomerLink({ id, name, query }: { id: string; name?: string; query: Record<string, string> }) {
  if (!id) return <span class="muted">—</span>;
  return (
    <a href={href(`/customers/${encodeURIComponent(id)}`, query)} class="customer-link">
      {name && name !== id ? (
        <>
          {name} <span class="id">{id}</span>
        </>
      ) : (
        <span class="id">{id}</span>
      )}
    </a>
  );
}

interface RunsTableProps {
  runs: Run[];
  /** The window and filters to keep on links to customers. */
  query: Record<string, string>;
  /** False on a customer's page, where every run is that customer's. */
  showCustomer?: boolean;
  /** Column headers, for the list that sorts by start time or cost. */
  costHeader?: ComponentChildren;
  startHeader?: ComponentChildren;
}

/**
 * Runs with their status and flags, customer, agent, cost, steps (and how many are unpriced),
 * events, start and duration; paired figures share a cell so the table fits 1280 px.
 */
export function RunsTable({ runs, query, showCustomer = true, costHeader, startHeader }: RunsTableProps) {
  return (
    <table class="runs-table">
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Status</th>
          {showCustomer && <th scope="col">Customer</th>}
          <th scope="col">Agent</th>
          {costHeader ?? (
            <th scope="col" class="num">
              Cost
            </th>
          )}
          <th scope="col" class="num" title="Steps are the service lines of the run's events; in brackets, those with no cost yet">
            Steps
          </th>
          <th scope="col" class="num">
            Events
          </th>
          {startHeader ?? <th scope="col">Started</th>}
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.runId} data-run={run.runId} data-agent={run.agentCode} data-customer={run.customer?.id ?? ""}>
            <td>
              <a href={href(`/runs/${encodeURIComponent(run.runId)}`)} class="id">
                {run.runId}
              </a>
            </td>
            <td>
              <Status run={run} />
              {run.flags.length > 0 && (
                <div class="flags">
                  <Flags flags={run.flags} />
                </div>
              )}
            </td>
            {showCustomer && (
              <td>
                <CustomerLink id={run.customer?.id ?? ""} name={run.customer?.name} query={query} />
              </td>
            )}
            <td>{run.agentCode}</td>
            <td class="num">
              <Money figure="cost" value={run.totalCostUsd} />
            </td>
            <td class="num">
              <Count figure="steps" value={run.stepCount} />
              <div class={run.unpricedStepCount > 0n ? "unpriced some" : "unpriced"}>
                (<Count figure="unpriced" value={run.unpricedStepCount} />)
              </div>
            </td>
            <td class="num">
              <Count figure="events" value={run.eventCount} />
            </td>
            <td>
              <Time value={run.startTime} />
              <div class="muted small">
                <DurationText value={run.duration} />
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
