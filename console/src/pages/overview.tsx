// This window's revenue, cost and margin, cost and revenue per day, the customers that cost the
// most, and what needs a person.
import { api } from "../api";
import { TimeChart } from "../components/chart";
import { Empty, Page, Section } from "../components/page";
import { Count, Money } from "../components/values";
import { MarginTiles } from "../components/margin_tiles";
import { WindowPicker } from "../components/window_picker";
import { ReportDimension, MarginOrderBy, TimeGranularity } from "../gen/tally/v1/reports_pb";
import { href } from "../router";
import { fromTimestamp, toTimestamp, windowFrom, windowParams } from "../time";
import { combined, useCall } from "../use_call";

const GRANULARITIES = { hour: TimeGranularity.HOUR, day: TimeGranularity.DAY, month: TimeGranularity.MONTH } as const;

export function Overview({ params }: { params: URLSearchParams }) {
  const window = windowFrom(params);
  const granularity = (params.get("granularity") ?? "day") as keyof typeof GRANULARITIES;
  const bucket = GRANULARITIES[granularity] ?? TimeGranularity.DAY;
  const span = { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) };
  const deps = [window.start.getTime(), window.end.getTime()];
  const [margin] = useCall("Margin", () => api.reports.getMargin(span), deps);
  const [series] = useCall("Cost and revenue per day", () => api.reports.getCostSeries({ ...span, granularity: bucket }), [...deps, bucket]);
  const [top] = useCall(
    "Top customers by cost",
    () =>
      api.reports.getMargin({
        ...span,
        groupBy: [ReportDimension.CUSTOMER],
        orderBy: MarginOrderBy.COST,
        descending: true,
        pageSize: 5,
      }),
    deps,
  );
  // Counts only: the tile needs no lists, and the counts then come from the aggregates.
  const [attention] = useCall("Needs attention", () => api.reports.getNeedsAttention({ ...span, countsOnly: true }), deps);
  const link = (path: string) => href(path, windowParams(window));

  return (
    <Page name="overview" title="Overview" state={combined(margin, series, top, attention)} actions={<WindowPicker window={window} />}>
      <Section name="totals" call={margin}>
        {({ totals }) =>
          totals ? (
            <MarginTiles totals={totals} />
          ) : (
            <Empty>No figures for this window.</Empty>
          )
        }
      </Section>
      <Section name="series" title={`Cost and revenue per ${granularity}`} call={series}>
        {(response) => {
          const whole = response.series[0];
          if (!whole) return <Empty>No events in this window.</Empty>;
          const lines = [{ name: "Cost", className: "cost", values: whole.buckets.map((b) => b.costUsd) }];
          if (response.revenueAvailable) lines.push({ name: "Revenue", className: "revenue", values: whole.buckets.map((b) => b.revenueUsd) });
          return (
            <>
              <nav class="segmented" aria-label="Bucket width">
                {Object.keys(GRANULARITIES).map((name) => (
                  <a key={name} href={href("/", { ...windowParams(window), granularity: name })} aria-current={name === granularity ? "true" : undefined}>
                    {name}
                  </a>
                ))}
              </nav>
              <TimeChart
                title={`Cost and revenue per ${granularity}`}
                granularity={granularity}
                labels={whole.buckets.map((b) => fromTimestamp(b.startTime)!)}
                series={lines}
              />
            </>
          );
        }}
      </Section>
      <div class="columns">
        <Section name="top-customers" title="Top customers by cost" call={top}>
          {({ rows }) =>
            rows.length === 0 ? (
              <Empty>No customer had cost in this window.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Customer</th>
                    <th scope="col" class="num">Cost</th>
                    <th scope="col" class="num">Revenue</th>
                    <th scope="col" class="num">Margin</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => {
                    const customer = row.groupValues[0];
                    return (
                      <tr key={customer?.value} data-customer={customer?.value}>
                        <td>
                          <a href={link(`/customers/${encodeURIComponent(customer?.value ?? "")}`)}>{customer?.displayName || customer?.value}</a>
                        </td>
                        <td class="num">
                          <Money figure="cost" value={row.costUsd} />
                        </td>
                        <td class="num">
                          <Money figure="revenue" value={row.revenueUsd} />
                        </td>
                        <td class="num">
                          <Money figure="margin" value={row.marginUsd} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )
          }
        </Section>
        <Section name="attention" title="Needs attention" call={attention}>
          {(needs) => (
            <ul class="attention-counts">
              <li>
                <Count figure="unpriced" value={needs.unpricedEventCount} /> {plural(needs.unpricedEventCount, "event waits", "events wait")} for a
                price
              </li>
              <li>
                <Count figure="missing-volume" value={needs.missingVolumeEventCount} /> {plural(needs.missingVolumeEventCount, "event misses", "events miss")}{" "}
                volume
              </li>
              <li>
                <Count figure="tier-price-missing" value={needs.tierPriceMissingEventCount} />{" "}
                {plural(needs.tierPriceMissingEventCount, "event was", "events were")} billed at the standard price for want of a tier price
              </li>
              <li>
                <a href={link("/attention")}>Resolve them</a>
              </li>
            </ul>
          )}
        </Section>
      </div>
    </Page>
  );
}

function plural(count: bigint, one: string, many: string): string {
  return count === 1n ? one : many;
}
