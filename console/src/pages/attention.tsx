// What needs a person: models with no price (map each to a catalog model), events missing volume
// (fill their counts), and calls billed at the standard price for want of a tier price (set it).
// With no window in the URL it shows everything; `start` and `end` narrow it.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Empty, ErrorBox, Page, Section } from "../components/page";
import { Count, Money, Tile, Time } from "../components/values";
import { WindowPicker } from "../components/window_picker";
import { EventStatus } from "../gen/tally/v1/common_pb";
import type { CostEvent } from "../gen/tally/v1/ingest_pb";
import type { UnpricedModel } from "../gen/tally/v1/pricing_pb";
import type { MissingVolumeGroup } from "../gen/tally/v1/reports_pb";
import { href } from "../router";
import { thisMonth, toTimestamp, windowFrom, windowParams, type Window } from "../time";
import { combined, useCall } from "../use_call";
import { ActionButton, OutcomeBox, ReadOnlyNote, TokenPager, wholeNumber, type Outcome } from "./action_parts";
import { dimensionLabel, dimensionName, searchModels, sourceName, tierName } from "./pricing_parts";
import "./attention.css";

/** What an open form acts on: one unpriced model, or one sample event of a group. */
type Open = { kind: "map"; key: string } | { kind: "fill"; eventId: string } | null;

export function Attention({ params }: { params: URLSearchParams }) {
  const windowed = params.has("start") && params.has("end");
  const window = windowed ? windowFrom(params) : null;
  const span = window ? { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) } : {};
  const deps = [window?.start.getTime(), window?.end.getTime()];
  const modelsPage = params.get("models_page") ?? "";
  const [needs, reloadNeeds] = useCall("Needs attention", () => api.reports.getNeedsAttention(span), deps);
  const [unpriced, reloadUnpriced] = useCall(
    "Unpriced models",
    () => api.pricing.listUnpricedModels({ ...span, pageSize: 100, pageToken: modelsPage }),
    [...deps, modelsPage],
  );
  const [open, setOpen] = useState<Open>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const reload = () => {
    setOpen(null);
    reloadNeeds();
    reloadUnpriced();
  };
  const done = (result: Outcome) => {
    setOutcome(result);
    if (result?.kind === "notice") reload();
  };

  return (
    <Page name="attention" title="Needs attention" state={combined(needs, unpriced)} actions={<WindowChoice window={window} />}>
      <ReadOnlyNote>Mapping models and filling volumes needs a secret key (sk_); this key only reads.</ReadOnlyNote>
      <OutcomeBox outcome={outcome} />
      <Section name="counts" call={needs}>
        {(response) => (
          <div class="tiles">
            <Tile label="Events waiting for a price">
              <Count figure="unpriced" value={response.unpricedEventCount} />
            </Tile>
            <Tile label="Events missing volume">
              <Count figure="missing-volume" value={response.missingVolumeEventCount} />
            </Tile>
            <Tile label="Events billed without their tier's price">
              <Count figure="tier-price-missing" value={response.tierPriceMissingEventCount} />
            </Tile>
          </div>
        )}
      </Section>

      <Section name="unpriced" title="Models with no price" call={unpriced}>
        {({ unpricedModels, nextPageToken }) => (
          <>
            <p class="hint">
              Their events are stored but have no cost. Map each model to a catalog model whose prices apply: its parked events are
              repriced at once, later ones on arrival. Or <a href={href("/prices")}>set a price</a> of the project's own.
            </p>
            {unpricedModels.length === 0 ? (
              <Empty>Every model has a price.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Provider / model</th>
                    <th scope="col" class="num">Events</th>
                    <th scope="col">Agents</th>
                    <th scope="col" class="num">Customers</th>
                    <th scope="col">First / last seen</th>
                    <th scope="col">
                      <span class="visually-hidden">Action</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {unpricedModels.map((model) => {
                    const key = `${model.provider}/${model.model}`;
                    const isOpen = open?.kind === "map" && open.key === key;
                    return [
                      <tr key={key} data-model={key}>
                        <td>
                          <code>{key}</code>
                        </td>
                        <td class="num">
                          <Count figure="events" value={model.eventCount} />
                        </td>
                        <td>
                          <Names names={model.agentCodes} total={model.agentCount} />
                        </td>
                        <td class="num">
                          <Count figure="customers" value={model.customerCount} />
                        </td>
                        <td>
                          <Seen first={model.firstSeenTime} last={model.lastSeenTime} />
                        </td>
                        <td>
                          <ActionButton action="map" aria-expanded={isOpen} onClick={() => setOpen(isOpen ? null : { kind: "map", key })}>
                            Map to…
                          </ActionButton>
                        </td>
                      </tr>,
                      isOpen && (
                        <tr key={`${key} map`} class="action-row">
                          <td colSpan={6}>
                            <MapForm from={model} onDone={done} onCancel={() => setOpen(null)} />
                          </td>
                        </tr>
                      ),
                    ];
                  })}
                </tbody>
              </table>
            )}
            <TokenPager param="models_page" current={modelsPage} nextToken={nextPageToken} />
          </>
        )}
      </Section>

      <Section name="missing-volume" title="Events missing volume" call={needs}>
        {({ missingVolume }) => (
          <>
            <p class="hint">
              A line lacks the token counts or quantity its price needs. Give them per event: the line is priced at once.
            </p>
            {missingVolume.length === 0 ? (
              <Empty>No event misses volume.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Agent</th>
                    <th scope="col">Provider / model</th>
                    <th scope="col" class="num">Events</th>
                    <th scope="col">First / last seen</th>
                    <th scope="col">Sample events</th>
                  </tr>
                </thead>
                <tbody>
                  {missingVolume.map((group) => {
                    const key = `${group.agentCode} ${group.provider}/${group.model}`;
                    const filling = open?.kind === "fill" && group.sampleEventIds.includes(open.eventId) ? open.eventId : null;
                    return [
                      <tr key={key} data-model={`${group.provider}/${group.model}`} data-agent={group.agentCode}>
                        <td>{group.agentCode}</td>
                        <td>
                          <code>
                            {group.provider}/{group.model}
                          </code>
                        </td>
                        <td class="num">
                          <Count figure="events" value={group.eventCount} />
                        </td>
                        <td>
                          <Seen first={group.firstSeenTime} last={group.lastSeenTime} />
                        </td>
                        <td>
                          <ul class="samples">
                            {group.sampleEventIds.map((eventId) => (
                              <li key={eventId} data-event={eventId}>
                                <EventId id={eventId} />
                                <ActionButton
                                  action="fill"
                                  aria-expanded={filling === eventId}
                                  onClick={() => setOpen(filling === eventId ? null : { kind: "fill", eventId })}
                                >
                                  Fill…
                                </ActionButton>
                              </li>
                            ))}
                          </ul>
                        </td>
                      </tr>,
                      filling && (
                        <tr key={`${key} fill`} class="action-row">
                          <td colSpan={5}>
                            <FillForm key={filling} eventId={filling} group={group} onDone={done} onCancel={() => setOpen(null)} />
                          </td>
                        </tr>
                      ),
                    ];
                  })}
                </tbody>
              </table>
            )}
          </>
        )}
      </Section>

      <Section name="tier-price-missing" title="Calls billed without their tier's price" call={needs}>
        {({ tierPriceMissing }) => (
          <>
            <p class="hint">
              These calls ran at a batch, flex or priority tier the model has no price for, so they were billed at the standard price.
              Set the tier's prices: later calls are billed at them (these events keep their cost).
            </p>
            {tierPriceMissing.length === 0 ? (
              <Empty>Every call had its tier's price.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Provider / model</th>
                    <th scope="col">Tier</th>
                    <th scope="col" class="num">Events</th>
                    <th scope="col">First / last seen</th>
                    <th scope="col">Prices to set</th>
                    <th scope="col">Sample events</th>
                  </tr>
                </thead>
                <tbody>
                  {tierPriceMissing.map((group) => {
                    const model = `${group.provider}/${group.model}`;
                    const tier = tierName(group.serviceTier);
                    return (
                      <tr key={`${model} ${tier}`} data-model={model} data-tier={tier}>
                        <td>
                          <code>{model}</code>
                        </td>
                        <td>{tier}</td>
                        <td class="num">
                          <Count figure="events" value={group.eventCount} />
                        </td>
                        <td>
                          <Seen first={group.firstSeenTime} last={group.lastSeenTime} />
                        </td>
                        <td>
                          <ul class="set-links">
                            {group.dimensions.map((dimension) => (
                              <li key={dimension}>
                                <a
                                  data-action="set-tier-price"
                                  data-dimension={dimensionName(dimension)}
                                  href={href("/prices", {
                                    provider: group.provider,
                                    model: group.model,
                                    tier,
                                    dimension: dimensionName(dimension),
                                    q: model,
                                  })}
                                >
                                  Set {tier} {dimensionLabel(dimension).toLowerCase()} price
                                </a>
                              </li>
                            ))}
                          </ul>
                        </td>
                        <td>
                          <ul class="samples">
                            {group.sampleEventIds.map((eventId) => (
                              <li key={eventId} data-event={eventId}>
                                <EventId id={eventId} />
                              </li>
                            ))}
                          </ul>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </>
        )}
      </Section>
    </Page>
  );
}

/** Everything (no window in the URL), or the window picker with a way back to everything. */
function WindowChoice({ window }: { window: Window | null }) {
  if (!window)
    return (
      <div class="window-picker">
        <span class="window-text" data-all-time>
          All time
        </span>
        <a href={href("/attention", windowParams(thisMonth()))}>Narrow to a window</a>
      </div>
    );
  return (
    <>
      <WindowPicker window={window} />
      <a href={href("/attention")} data-action="all-time">
        All time
      </a>
    </>
  );
}

function Seen({ first, last }: { first: Timestamp | undefined; last: Timestamp | undefined }) {
  return (
    <span class="seen">
      <Time value={first} />
      <br />
      <Time value={last} />
    </span>
  );
}

/** An event id by its last characters (a UUIDv7 starts with its time, alike for close events). */
function EventId({ id }: { id: string }) {
  return (
    <code class="event-id" title={id}>
      …{id.slice(-8)}
    </code>
  );
}

function Names({ names, total }: { names: string[]; total: bigint }) {
  const shown = names.slice(0, 3);
  const more = total - BigInt(shown.length);
  return (
    <span class="names">
      {shown.join(", ")}
      {more > 0n ? ` and ${more.toString()} more` : ""}
    </span>
  );
}

/** Picks a catalog model (searched by provider or model prefix) and maps the unpriced one to it. */
function MapForm({ from, onDone, onCancel }: { from: UnpricedModel; onDone: (outcome: Outcome) => void; onCancel: () => void }) {
  const source = `${from.provider}/${from.model}`;
  const [query, setQuery] = useState("");
  const [search, setSearch] = useState("");
  const [target, setTarget] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => setSearch(query), 250);
    return () => clearTimeout(timer);
  }, [query]);
  const [models] = useCall("Searching the catalog", () => searchModels(search), [search]);
  const submit = async (event: Event) => {
    event.preventDefault();
    const [toProvider, ...rest] = target.split("/");
    const toModel = rest.join("/");
    if (!toProvider || !toModel) {
      setError("Pick a catalog model to map to.");
      return;
    }
    onDone(null);
    setBusy(true);
    setError("");
    try {
      const answer = await api.pricing.mapModel({ fromProvider: from.provider, fromModel: from.model, toProvider, toModel });
      const mapping = answer.mapping;
      const to = mapping ? `${mapping.toProvider}/${mapping.toModel}` : target;
      const count = answer.repricedEventCount;
      onDone({
        kind: "notice",
        content: (
          <span data-outcome="mapped" data-model={source} data-target={to}>
            Mapped {source} to {to}: <Count figure="repriced" value={count} /> {count === 1n ? "event" : "events"} repriced
          </span>
        ),
      });
    } catch (failure) {
      setError(describeError(`Mapping ${source} to ${target}`, failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form map-form" data-form="map" data-model={source} onSubmit={submit}>
      <label>
        Search the catalog
        <input
          type="search"
          name="search"
          value={query}
          placeholder="gpt-4o, anthropic or openai/gpt-4o"
          autocomplete="off"
          onInput={(event) => setQuery(event.currentTarget.value)}
        />
      </label>
      <label class="wide">
        Catalog model for {source}
        <select name="target" size={6} required value={target} onChange={(event) => setTarget(event.currentTarget.value)}>
          {models.state === "ready" &&
            models.data.map((model) => {
              const key = `${model.provider}/${model.model}`;
              return (
                <option key={key} value={key}>
                  {key}
                  {model.sources.length === 1 && sourceName(model.sources[0]) === "project" ? " (project price)" : ""}
                </option>
              );
            })}
        </select>
      </label>
      <p class="search-state" aria-live="polite">
        {models.state === "loading" && "Searching…"}
        {models.state === "ready" && (models.data.length === 0 ? "No model with prices matches." : `${models.data.length} models match.`)}
      </p>
      {models.state === "error" && <ErrorBox message={models.message} />}
      <div class="form-actions">
        <ActionButton action="confirm-map" type="submit" class="primary" disabled={busy || !target}>
          {busy ? "Mapping…" : target ? `Map to ${target}` : "Map"}
        </ActionButton>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && <ErrorBox message={error} />}
    </form>
  );
}

const COUNTS: [CountField, string][] = [
  ["inputTokens", "Input tokens"],
  ["outputTokens", "Output tokens"],
  ["cachedInputTokens", "Cached input tokens"],
  ["cacheCreationTokens", "Cache creation tokens"],
  ["reasoningTokens", "Reasoning tokens"],
  ["quantity", "Quantity (service units)"],
];

type CountField = "inputTokens" | "outputTokens" | "cachedInputTokens" | "cacheCreationTokens" | "reasoningTokens" | "quantity";

/** Reads the event (which line misses volume, what it has) and gives the line its counts. */
function FillForm({
  eventId,
  group,
  onDone,
  onCancel,
}: {
  eventId: string;
  group: MissingVolumeGroup;
  onDone: (outcome: Outcome) => void;
  onCancel: () => void;
}) {
  const [event] = useCall(`Reading event ${eventId}`, () => api.ingest.getEvent({ eventId }).then((answer) => answer.event), [eventId]);
  const [line, setLine] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  if (event.state === "loading") return <p class="loading">Reading event {eventId}…</p>;
  if (event.state === "error") return <ErrorBox message={event.message} />;
  const stored = event.data as CostEvent | undefined;
  const missing = (stored?.lines ?? []).filter((candidate) => candidate.status === EventStatus.MISSING_VOLUME_DATA);
  const lineIndex =
    line ??
    missing.find((candidate) => candidate.usage?.provider === group.provider && candidate.usage?.model === group.model)?.index ??
    missing[0]?.index ??
    0;
  const usage = stored?.lines.find((candidate) => candidate.index === lineIndex)?.usage;

  const submit = async (submitted: Event) => {
    submitted.preventDefault();
    const form = submitted.currentTarget as HTMLFormElement;
    const request: Partial<Record<CountField, bigint>> = {};
    for (const [field, label] of COUNTS) {
      const text = (form.elements.namedItem(field) as HTMLInputElement).value;
      const value = wholeNumber(text);
      if (value === null) {
        setError(`${label}: "${text}" is not a whole number.`);
        return;
      }
      if (value !== undefined) request[field] = value;
    }
    onDone(null);
    setBusy(true);
    setError("");
    try {
      const answer = await api.ingest.fillVolume({ eventId, lineIndex, ...request });
      const after = answer.event;
      const status = after ? EventStatus[after.status].toLowerCase().replace(/_/g, " ") : "unknown";
      onDone({
        kind: "notice",
        content: (
          <span data-outcome="filled" data-event={eventId}>
            Filled line {lineIndex} of event <code>{eventId}</code>: the event is now {status}
            {after?.totalCostUsd ? (
              <>
                , cost <Money figure="filled-cost" value={after.totalCostUsd} />
              </>
            ) : (
              ", cost still unknown"
            )}
            {after?.error ? ` (${after.error})` : ""}
          </span>
        ),
      });
    } catch (failure) {
      setError(describeError(`Filling event ${eventId}`, failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form fill-form" data-form="fill" data-event={eventId} onSubmit={submit}>
      <p class="wide hint">
        Event <code>{eventId}</code>
        {stored?.agentCode ? ` of ${stored.agentCode}` : ""}
        {stored?.customer?.id ? ` for ${stored.customer.id}` : ""}
        {stored?.error ? `: ${stored.error}` : ""}. Counts left empty keep their value.
      </p>
      {missing.length > 1 && (
        <label>
          Line
          <select name="line" value={String(lineIndex)} onChange={(change) => setLine(Number(change.currentTarget.value))}>
            {missing.map((candidate) => (
              <option key={candidate.index} value={String(candidate.index)}>
                {candidate.index}: {candidate.usage?.provider}/{candidate.usage?.model}
              </option>
            ))}
          </select>
        </label>
      )}
      {COUNTS.map(([field, label]) => {
        const now = usage?.[field];
        return (
          <label key={field}>
            {label}
            <input
              name={field}
              type="text"
              inputMode="numeric"
              autocomplete="off"
              placeholder={now === undefined ? "not reported" : `now ${now.toString()}`}
            />
          </label>
        );
      })}
      <div class="form-actions">
        <ActionButton action="confirm-fill" type="submit" class="primary" disabled={busy}>
          {busy ? "Filling…" : "Fill and price"}
        </ActionButton>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && <ErrorBox message={error} />}
    </form>
  );
}
