// The window of a page, kept in the URL (`start`, `end`: whole UTC hours): presets and two dates.
import { setParams } from "../router";
import { formatWindow, lastDays, lastMonth, thisMonth, windowParams, type Window } from "../time";

const PRESETS: [string, () => Window][] = [
  ["This month", () => thisMonth()],
  ["Last month", () => lastMonth()],
  ["Last 7 days", () => lastDays(7)],
  ["Last 30 days", () => lastDays(30)],
  ["Last 90 days", () => lastDays(90)],
];

/** Day inputs are UTC days: the window's edges are UTC hours, as every report's are. */
export function WindowPicker({ window }: { window: Window }) {
  const choose = (chosen: Window) => setParams({ ...windowParams(chosen), page: undefined });
  const onDate = (edge: "start" | "end", text: string) => {
    const date = new Date(`${text}T00:00:00Z`);
    if (Number.isNaN(date.getTime())) return;
    const next = { ...window, [edge]: date };
    if (next.end > next.start) choose(next);
  };
  return (
    <div class="window-picker" data-window={`${window.start.toISOString()}/${window.end.toISOString()}`}>
      <span class="window-text">{formatWindow(window)}</span>
      <select
        aria-label="Window"
        value=""
        onChange={(event) => {
          const preset = PRESETS.find(([name]) => name === event.currentTarget.value);
          if (preset) choose(preset[1]());
        }}
      >
        <option value="">Choose a window…</option>
        {PRESETS.map(([name]) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
      <label>
        From <input type="date" value={day(window.start)} onChange={(event) => onDate("start", event.currentTarget.value)} />
      </label>
      <label>
        to <input type="date" value={day(window.end)} onChange={(event) => onDate("end", event.currentTarget.value)} />
      </label>
    </div>
  );
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}
