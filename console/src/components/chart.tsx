// Cost and revenue over time as an SVG of our own (lighter than any library): a line per series,
// a labelled axis, and the same figures in a table for screen readers and for reading exactly.
import { chartValue, formatUsd } from "../money";
import { formatUtc } from "../time";

export interface ChartSeries {
  name: string;
  className: string;
  values: string[];
}

interface TimeChartProps {
  title: string;
  labels: Date[];
  series: ChartSeries[];
  /** How a bucket is named on the axis and in the table. */
  granularity: "hour" | "day" | "month";
}

const WIDTH = 720;
const HEIGHT = 240;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

export function TimeChart({ title, labels, series, granularity }: TimeChartProps) {
  const max = Math.max(0, ...series.flatMap((line) => line.values.map(chartValue)));
  const { top, step } = niceScale(max);
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (index: number) => PAD.left + (labels.length <= 1 ? innerWidth / 2 : (index * innerWidth) / (labels.length - 1));
  const y = (value: number) => PAD.top + innerHeight - (top === 0 ? 0 : (value / top) * innerHeight);
  const ticks = top === 0 ? [0] : Array.from({ length: Math.round(top / step) + 1 }, (_, index) => index * step);
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const summary = series.map((line) => `${line.name}: ${line.values.length} ${granularity}s`).join("; ");
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}. ${summary}. The table below holds every figure.`}>
        {ticks.map((tick) => (
          <g key={tick} class="tick">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} />
            <text x={PAD.left - 6} y={y(tick) + 4} text-anchor="end">
              {axisMoney(tick)}
            </text>
          </g>
        ))}
        {labels.map((label, index) =>
          index % every === 0 ? (
            <text key={index} class="axis-label" x={x(index)} y={HEIGHT - 8} text-anchor="middle">
              {bucketName(label, granularity, true)}
            </text>
          ) : null,
        )}
        {series.map((line) => (
          <g key={line.name} class={`series ${line.className}`}>
            <polyline fill="none" points={line.values.map((value, index) => `${x(index)},${y(chartValue(value))}`).join(" ")} />
            {line.values.map((value, index) => (
              <circle key={index} cx={x(index)} cy={y(chartValue(value))} r={2.5}>
                <title>{`${line.name}, ${bucketName(labels[index], granularity, false)}: ${formatUsd(value)}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <figcaption>
        {series.map((line) => (
          <span key={line.name} class={`legend ${line.className}`}>
            {line.name}
          </span>
        ))}
      </figcaption>
      <details class="chart-table">
        <summary>Figures</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">{granularity === "month" ? "Month" : granularity === "day" ? "Day" : "Hour"} (UTC)</th>
              {series.map((line) => (
                <th key={line.name} scope="col" class="num">
                  {line.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((label, index) => (
              <tr key={index}>
                <td title={formatUtc(label)}>{bucketName(label, granularity, false)}</td>
                {series.map((line) => (
                  <td key={line.name} class="num" data-series={line.className} data-value={line.values[index]}>
                    {formatUsd(line.values[index])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

// Buckets are UTC calendar hours, days or months: named in UTC so a day is the API's day.
function bucketName(date: Date, granularity: "hour" | "day" | "month", short: boolean): string {
  const options: Intl.DateTimeFormatOptions =
    granularity === "month"
      ? { timeZone: "UTC", year: "numeric", month: "short" }
      : granularity === "day"
        ? { timeZone: "UTC", month: "short", day: "numeric", ...(short ? {} : { year: "numeric" }) }
        : { timeZone: "UTC", month: "short", day: "numeric", hour: "2-digit" };
  return date.toLocaleString(undefined, options);
}

// Axis ticks are geometry, not figures: rounded for reading; exact values are in the table.
function axisMoney(value: number): string {
  if (value === 0) return "$0";
  if (value >= 1000) return `$${(value / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 })}k`;
  return `$${value.toLocaleString(undefined, { maximumSignificantDigits: 3 })}`;
}

// The axis' top and its step: a round number at or above the largest value, cut in 4 or 5 round steps.
function niceScale(value: number): { top: number; step: number } {
  if (value <= 0) return { top: 0, step: 1 };
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const [factor, step] = ([[1, 0.2], [2, 0.5], [2.5, 0.5], [5, 1], [10, 2]] as const).find(([f]) => f * magnitude >= value) ?? [10, 2];
  return { top: factor * magnitude, step: step * magnitude };
}
