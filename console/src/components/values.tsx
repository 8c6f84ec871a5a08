// Money, counts and times as shown everywhere: exact money, the viewer's zone with UTC on hover.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { formatCount, formatPercent, formatUsd } from "../money";
import { formatLocal, formatUtc, fromTimestamp } from "../time";

/**
 * A USD amount, every digit the API sent: the digits past the cents are drawn smaller so the cents
 * read first, but they are there (the text is the exact amount). The API's string is in
 * `data-value` and the hover title.
 */
export function Money({ value, figure }: { value: string; figure?: string }) {
  const negative = value.startsWith("-") && /[1-9]/.test(value);
  const text = formatUsd(value);
  const cents = text.indexOf(".") + 3;
  return (
    <span class={negative ? "money negative" : "money"} data-figure={figure} data-value={value} title={value ? `${value} USD` : "not available"}>
      {cents > 2 && cents < text.length ? (
        <>
          {text.slice(0, cents)}
          <span class="sub-cent">{text.slice(cents)}</span>
        </>
      ) : (
        text
      )}
    </span>
  );
}

export function Percent({ value, figure }: { value: string; figure?: string }) {
  return (
    <span class="percent" data-figure={figure} data-value={value}>
      {formatPercent(value)}
    </span>
  );
}

export function Count({ value, figure }: { value: bigint | number; figure?: string }) {
  return (
    <span class="count" data-figure={figure} data-value={value.toString()}>
      {formatCount(value)}
    </span>
  );
}

/** A point in time in the viewer's zone; hover shows it in UTC. */
export function Time({ value }: { value: Timestamp | Date | undefined }) {
  const date = value instanceof Date ? value : fromTimestamp(value);
  if (!date) return <span class="time">—</span>;
  return (
    <time dateTime={date.toISOString()} title={formatUtc(date)}>
      {formatLocal(date)}
    </time>
  );
}

/** A figure with its label, as the overview's tiles show them. */
export function Tile({ label, children }: { label: string; children: preact.ComponentChildren }) {
  return (
    <div class="tile">
      <div class="tile-label">{label}</div>
      <div class="tile-value">{children}</div>
    </div>
  );
}

/** A horizontal bar for a share in 0..1 (spend of a budget, cost of the largest). */
export function Bar({ share, label, warn }: { share: number; label: string; warn?: boolean }) {
  const percent = Math.max(0, Math.min(100, share * 100));
  return (
    <div class="bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent)}>
      <div class={warn ? "bar-fill warn" : "bar-fill"} style={{ width: `${percent}%` }} />
    </div>
  );
}
