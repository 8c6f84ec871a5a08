// The price catalog and the project's own prices, searched by provider and model prefix; the
// project's model mappings and signal prices; and a form to set a price (a secret key only).
// URL: `q` (search), `source` (catalog|project), `page`, `own_page`, `mappings_page`, and
// `provider`, `model`, `tier`, `dimension` to fill the form (the needs-attention page links here).
import { useState } from "preact/hooks";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { api, describeError } from "../api";
import { Empty, ErrorBox, Page, Section } from "../components/page";
import { Pager } from "../components/table";
import { Count, Money, Time } from "../components/values";
import { CostDimension, ServiceTier } from "../gen/tally/v1/common_pb";
import { PriceSource, type Price } from "../gen/tally/v1/pricing_pb";
import { href, setParams } from "../router";
import { fromTimestamp, toTimestamp } from "../time";
import { combined, useCall } from "../use_call";
import { ActionButton, OutcomeBox, ReadOnlyNote, TokenPager, wholeNumber, type Outcome } from "./action_parts";
import { DIMENSIONS, TIERS, dimensionLabel, dimensionName, parseCatalogQuery, sourceName, tierName } from "./pricing_parts";
import "./prices.css";

const SOURCES: Record<string, PriceSource> = { catalog: PriceSource.CATALOG, project: PriceSource.PROJECT };

export function Prices({ params }: { params: URLSearchParams }) {
  const query = params.get("q") ?? "";
  const sourceParam = params.get("source") ?? "";
  const source = SOURCES[sourceParam] ?? PriceSource.UNSPECIFIED;
  const page = params.get("page") ?? "";
  const ownPage = params.get("own_page") ?? "";
  const mappingsPage = params.get("mappings_page") ?? "";
  const [catalog, reloadCatalog] = useCall(
    "Searching prices",
    () => api.pricing.listPrices({ ...parseCatalogQuery(query), source, pageSize: 500, pageToken: page }),
    [query, source, page],
  );
  const [own, reloadOwn] = useCall(
    "The project's own prices",
    () => api.pricing.listPrices({ source: PriceSource.PROJECT, pageSize: 100, pageToken: ownPage }),
    [ownPage],
  );
  const [mappings, reloadMappings] = useCall(
    "Model mappings",
    () => api.pricing.listModelMappings({ pageSize: 100, pageToken: mappingsPage }),
    [mappingsPage],
  );
  const [signals] = useCall("Signal prices", () => api.pricing.listSignalPrices({ pageSize: 100 }), []);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const done = (result: Outcome) => {
    setOutcome(result);
    if (result?.kind === "notice") {
      reloadCatalog();
      reloadOwn();
      reloadMappings();
    }
  };
  const prefill = {
    provider: params.get("provider") ?? "",
    model: params.get("model") ?? "",
    tier: params.get("tier") ?? "",
    dimension: params.get("dimension") ?? "",
  };

  return (
    <Page
      name="prices"
      title="Prices"
      state={combined(catalog, own, mappings, signals)}
      actions={<SearchForm key={`${query} ${sourceParam}`} query={query} source={sourceParam} />}
    >
      <ReadOnlyNote>Setting a price needs a secret key (sk_); this key only reads.</ReadOnlyNote>
      <OutcomeBox outcome={outcome} />
      <section class="card" data-section="set-price">
        <h2>Set a price</h2>
        <p class="hint">
          The project's own price (a negotiated rate, a private model, a tier's price the catalog lacks) wins over the catalog's from its
          effective time. Prices are never edited: a later one supersedes. Events waiting for a price of this model are priced at once.
        </p>
        <SetPriceForm key={JSON.stringify(prefill)} prefill={prefill} onDone={done} />
      </section>

      <Section name="catalog" title={query ? `Prices matching “${query}”` : "All prices"} call={catalog}>
        {({ prices, nextPageToken }) => (
          <>
            <PriceTable prices={prices} />
            <Pager nextToken={nextPageToken} onFirst={!page} />
          </>
        )}
      </Section>

      <Section name="own-prices" title="The project's own prices" call={own}>
        {({ prices, nextPageToken }) =>
          prices.length === 0 ? (
            <Empty>The project has no prices of its own: every model is priced from the catalog.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Provider / model</th>
                    <th scope="col">Dimension</th>
                    <th scope="col">Tier</th>
                    <th scope="col" class="num">USD per unit</th>
                    <th scope="col">From</th>
                  </tr>
                </thead>
                <tbody>
                  {prices.map((price) => (
                    <tr
                      key={price.priceId}
                      data-price={`${price.provider}/${price.model}`}
                      data-price-id={price.priceId}
                      data-dimension={dimensionName(price.dimension)}
                      data-tier={tierName(price.serviceTier)}
                    >
                      <td>
                        <code>
                          {price.provider}/{price.model}
                        </code>
                      </td>
                      <td>{dimensionLabel(price.dimension)}</td>
                      <td>
                        {tierName(price.serviceTier)}
                        {price.longContextThresholdTokens !== undefined && (
                          <span class="tag">over {price.longContextThresholdTokens.toString()} tokens</span>
                        )}
                      </td>
                      <td class="num">
                        <Money figure="unit-price" value={price.unitPriceUsd} />
                      </td>
                      <td>
                        <EffectiveFrom value={price.effectiveTime} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <TokenPager param="own_page" current={ownPage} nextToken={nextPageToken} />
            </>
          )
        }
      </Section>
      <Section name="mappings" title="Model mappings" call={mappings}>
        {({ mappings: list, nextPageToken }) =>
          list.length === 0 ? (
            <Empty>
              No mappings. Map an unknown model to a catalog model on <a href={href("/attention")}>Needs attention</a>.
            </Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Unknown model</th>
                    <th scope="col">Priced as</th>
                    <th scope="col">Since</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((mapping) => {
                    const from = `${mapping.fromProvider}/${mapping.fromModel}`;
                    const to = `${mapping.toProvider}/${mapping.toModel}`;
                    return (
                      <tr key={from} data-mapping={from} data-target={to}>
                        <td>
                          <code>{from}</code>
                        </td>
                        <td>
                          <a href={href("/prices", { q: to })}>
                            <code>{to}</code>
                          </a>
                        </td>
                        <td>
                          <Time value={mapping.createTime} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              <TokenPager param="mappings_page" current={mappingsPage} nextToken={nextPageToken} />
            </>
          )
        }
      </Section>

      <Section name="signal-prices" title="Signal prices" call={signals}>
        {({ signalPrices, nextPageToken }) =>
          signalPrices.length === 0 ? (
            <Empty>No signal prices: revenue is plan fees only.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Plan</th>
                    <th scope="col">Signal</th>
                    <th scope="col" class="num">USD per unit</th>
                    <th scope="col">From</th>
                  </tr>
                </thead>
                <tbody>
                  {signalPrices.map((price) => (
                    <tr
                      key={`${price.planName} ${price.signalName} ${fromTimestamp(price.effectiveTime)?.getTime()}`}
                      data-signal-price={`${price.planName}/${price.signalName}`}
                    >
                      <td>{price.planName}</td>
                      <td>{price.signalName}</td>
                      <td class="num">
                        <Money figure="signal-price" value={price.unitPriceUsd} />
                      </td>
                      <td>
                        <EffectiveFrom value={price.effectiveTime} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {nextPageToken && <p class="hint">The first 100 signal prices are shown.</p>}
            </>
          )
        }
      </Section>
    </Page>
  );
}

function SearchForm({ query, source }: { query: string; source: string }) {
  const [text, setText] = useState(query);
  const [chosen, setChosen] = useState(source);
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        setParams({ q: text.trim(), source: chosen, page: undefined });
      }}
    >
      <label>
        Search prices
        <input
          type="search"
          name="q"
          value={text}
          placeholder="gpt-4o, openai/ or openai/gpt-4o"
          autocomplete="off"
          onInput={(event) => setText(event.currentTarget.value)}
        />
      </label>
      <label>
        Source
        <select name="source" value={chosen} onChange={(event) => setChosen(event.currentTarget.value)}>
          <option value="">Any</option>
          <option value="catalog">Catalog</option>
          <option value="project">The project's own</option>
        </select>
      </label>
      <button type="submit" data-action="search">
        Search
      </button>
    </form>
  );
}

interface ModelPrices {
  key: string;
  rows: Price[];
  /** The standard tier's base price in force now, per dimension: the project's over the catalog's. */
  current: Map<CostDimension, Price>;
}

/** One row per provider/model: the standard prices in force now, and every row on demand. */
function PriceTable({ prices }: { prices: Price[] }) {
  const [expanded, setExpanded] = useState<string | null>(null);
  if (prices.length === 0) return <Empty>No price matches. Search by model prefix (gpt-4o), provider (openai/) or both (openai/gpt-4o).</Empty>;
  const models = groupByModel(prices);
  const dimensions = DIMENSIONS.filter(([dimension]) => models.some((model) => model.current.has(dimension)));
  const columns = 4 + dimensions.length;
  return (
    <>
      <p class="hint">
        USD per unit (per token for token dimensions) of the standard tier, in force now; * marks the project's own price. “All prices”
        shows every row: tiers, long-context rates, history.
      </p>
      <table class="price-table">
        <thead>
          <tr>
            <th scope="col">Provider / model</th>
            <th scope="col">Source</th>
            {dimensions.map(([, name, label]) => (
              <th key={name} scope="col" class="num">
                {label}
              </th>
            ))}
            <th scope="col" class="num">Price rows</th>
            <th scope="col">
              <span class="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {models.map((model) => {
            const open = expanded === model.key;
            const sources = [...new Set(model.rows.map((row) => sourceName(row.source)))];
            return [
              <tr key={model.key} data-price={model.key}>
                <td>
                  <code>{model.key}</code>
                </td>
                <td>
                  {sources.map((name) => (
                    <span key={name} class={`tag source-${name}`} data-source={name}>
                      {name === "project" ? "project's own" : name}
                    </span>
                  ))}
                </td>
                {dimensions.map(([dimension, name]) => {
                  const price = model.current.get(dimension);
                  return (
                    <td key={name} class="num" data-dimension={name}>
                      {price ? (
                      <>
                          <Money figure="unit-price" value={price.unitPriceUsd} />
                          {price.source === PriceSource.PROJECT && <span class="own-mark" title="The project's own price"> *</span>}
                      </>
                      ) : (
                        "—"
                      )}
                    </td>
                  );
                })}
                <td class="num">
                  <Count figure="price-rows" value={model.rows.length} />
                </td>
                <td>
                  <button type="button" data-action="show-prices" aria-expanded={open} onClick={() => setExpanded(open ? null : model.key)}>
                    {open ? "Hide" : "All prices"}
                  </button>
                </td>
              </tr>,
              open && (
                <tr key={`${model.key} all`} class="action-row" data-price-rows={model.key}>
                  <td colSpan={columns}>
                    <PriceRows rows={model.rows} current={model.current} />
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
    </>
  );
}

function PriceRows({ rows, current }: { rows: Price[]; current: Map<CostDimension, Price> }) {
  const inForce = new Set([...current.values()].map((price) => price.priceId));
  return (
    <table class="price-rows">
      <thead>
        <tr>
          <th scope="col">Dimension</th>
          <th scope="col">Tier</th>
          <th scope="col">Long context</th>
          <th scope="col" class="num">USD per unit</th>
          <th scope="col">From</th>
          <th scope="col">Source</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((price) => (
          <tr
            key={price.priceId}
            data-price-id={price.priceId}
            data-dimension={dimensionName(price.dimension)}
            data-tier={tierName(price.serviceTier)}
            class={inForce.has(price.priceId) ? "in-force" : undefined}
          >
            <td>{dimensionLabel(price.dimension)}</td>
            <td>{tierName(price.serviceTier)}</td>
            <td>{price.longContextThresholdTokens !== undefined ? `over ${price.longContextThresholdTokens.toString()} tokens` : "—"}</td>
            <td class="num">
              <Money figure="unit-price" value={price.unitPriceUsd} />
            </td>
            <td>
              <EffectiveFrom value={price.effectiveTime} />
            </td>
            <td>{sourceName(price.source)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function groupByModel(prices: Price[]): ModelPrices[] {
  const now = Date.now();
  const models = new Map<string, ModelPrices>();
  for (const price of prices) {
    const key = `${price.provider}/${price.model}`;
    const model: ModelPrices = models.get(key) ?? { key, rows: [], current: new Map() };
    model.rows.push(price);
    models.set(key, model);
    const standard = price.serviceTier === ServiceTier.STANDARD || price.serviceTier === ServiceTier.UNSPECIFIED;
    const effective = fromTimestamp(price.effectiveTime)?.getTime() ?? 0;
    if (!standard || price.longContextThresholdTokens !== undefined || effective > now) continue;
    const held = model.current.get(price.dimension);
    if (!held || outranks(price, held)) model.current.set(price.dimension, price);
  }
  return [...models.values()];
}

/** The project's price wins over the catalog's; among one source, the later effective time. */
function outranks(price: Price, held: Price): boolean {
  if (price.source !== held.source) return price.source === PriceSource.PROJECT;
  return (fromTimestamp(price.effectiveTime)?.getTime() ?? 0) > (fromTimestamp(held.effectiveTime)?.getTime() ?? 0);
}

interface Prefill {
  provider: string;
  model: string;
  tier: string;
  dimension: string;
}

/** `Pricing.SetPrice`: the price goes as typed (a decimal string), the server checks it. */
function SetPriceForm({ prefill, onDone }: { prefill: Prefill; onDone: (outcome: Outcome) => void }) {
  const [tier, setTier] = useState(TIERS.find(([, name]) => name === prefill.tier)?.[0] ?? ServiceTier.STANDARD);
  const [dimension, setDimension] = useState(DIMENSIONS.find(([, name]) => name === prefill.dimension)?.[0] ?? CostDimension.INPUT);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
    const threshold = wholeNumber(value("threshold"));
    if (threshold === null) {
      setError(`Long-context threshold: "${value("threshold")}" is not a whole number of tokens.`);
      return;
    }
    const effectiveText = value("effective");
    const effective = effectiveText ? new Date(`${effectiveText}Z`) : null;
    if (effective && Number.isNaN(effective.getTime())) {
      setError(`Effective from: "${effectiveText}" is not a date and time.`);
      return;
    }
    const serviceTier = tier;
    const provider = value("provider");
    const model = value("model");
    onDone(null);
    setBusy(true);
    setError("");
    try {
      const answer = await api.pricing.setPrice({
        price: {
          provider,
          model,
          dimension,
          serviceTier,
          longContextThresholdTokens: threshold,
          unitPriceUsd: value("unit_price"),
          effectiveTime: effective ? toTimestamp(effective) : undefined,
        },
      });
      const stored = answer.price;
      const key = stored ? `${stored.provider}/${stored.model}` : `${provider}/${model}`;
      const count = answer.repricedEventCount;
      onDone({
        kind: "notice",
        content: (
          <span data-outcome="price-set" data-price={key} data-price-id={stored?.priceId}>
            Set {key} {dimensionName(stored?.dimension ?? dimension)} at {tierName(stored?.serviceTier ?? serviceTier)} tier
            {stored?.longContextThresholdTokens !== undefined ? ` over ${stored.longContextThresholdTokens.toString()} tokens` : ""} to{" "}
            <Money figure="unit-price" value={stored?.unitPriceUsd ?? value("unit_price")} /> per unit from{" "}
            <Time value={stored?.effectiveTime ?? (effective ?? undefined)} />: <Count figure="repriced" value={count} /> waiting{" "}
            {count === 1n ? "event" : "events"} priced
          </span>
        ),
      });
    } catch (failure) {
      setError(describeError(`Setting the price of ${provider}/${model}`, failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form set-price-form" data-form="set-price" onSubmit={submit}>
      <label>
        Provider
        <input name="provider" defaultValue={prefill.provider} autocomplete="off" placeholder="openai" />
      </label>
      <label>
        Model
        <input name="model" defaultValue={prefill.model} autocomplete="off" placeholder="gpt-4o" />
      </label>
      <label>
        Dimension
        <select name="dimension" value={String(dimension)} onChange={(event) => setDimension(Number(event.currentTarget.value) as CostDimension)}>
          {DIMENSIONS.map(([value, , label]) => (
            <option key={value} value={String(value)}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Service tier
        <select name="tier" value={String(tier)} onChange={(event) => setTier(Number(event.currentTarget.value) as ServiceTier)}>
          {TIERS.map(([value, , label]) => (
            <option key={value} value={String(value)}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        USD per unit (per token)
        <input name="unit_price" inputMode="decimal" autocomplete="off" placeholder="0.0000025" />
      </label>
      <label>
        Long-context threshold (tokens, optional)
        <input name="threshold" inputMode="numeric" autocomplete="off" placeholder="base rate" />
      </label>
      <label>
        Effective from (UTC; empty: now)
        <input name="effective" type="datetime-local" step={1} />
      </label>
      <div class="form-actions">
        <ActionButton action="set-price" type="submit" class="primary" disabled={busy}>
          {busy ? "Setting…" : "Set price"}
        </ActionButton>
      </div>
      {error && (
        <div class="wide">
          <ErrorBox message={error} />
        </div>
      )}
    </form>
  );
}

/** When a price applies from; the catalog's prices apply from the epoch, which reads as "always". */
function EffectiveFrom({ value }: { value: Timestamp | undefined }) {
  if (!value || value.seconds <= 0n) return <span class="always">always</span>;
  return <Time value={value} />;
}
