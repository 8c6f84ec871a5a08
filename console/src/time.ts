// Windows are whole UTC hours (the reports' rule), kept in the URL as ISO instants so a view can be
// shared; times are shown in the viewer's zone with UTC on hover.
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

export interface Window {
  start: Date;
  end: Date;
}

/** The calendar month (UTC) holding `now`. */
export function thisMonth(now = new Date()): Window {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { start, end };
}

/** The calendar month (UTC) before the one holding `now`. */
export function lastMonth(now = new Date()): Window {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end };
}

/** The `days` whole UTC days up to the end of today. */
export function lastDays(days: number, now = new Date()): Window {
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  return { start: new Date(end.getTime() - days * 86_400_000), end };
}

/** The window in `params` (`start`, `end`), or `fallback` when either is missing or unreadable. */
export function windowFrom(params: URLSearchParams, fallback: Window = thisMonth()): Window {
  const start = parseInstant(params.get("start"));
  const end = parseInstant(params.get("end"));
  if (!start || !end || end <= start) return fallback;
  return { start: floorHour(start), end: floorHour(end) };
}

/** The query parameters of a window. */
export function windowParams(window: Window): Record<string, string> {
  return { start: isoInstant(window.start), end: isoInstant(window.end) };
}

export function isoInstant(date: Date): string {
  return date.toISOString().replace(".000Z", "Z");
}

export function toTimestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

export function fromTimestamp(timestamp: Timestamp | undefined): Date | null {
  return timestamp ? timestampDate(timestamp) : null;
}

/** Date and time in the viewer's zone, e.g. "6 Dec 2026, 14:05". */
export function formatLocal(date: Date): string {
  return date.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** The instant in UTC, for the hover title. */
export function formatUtc(date: Date): string {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A window in words, in UTC (its edges are UTC hours): "1 Dec 2026 – 1 Jan 2027 (UTC)". */
export function formatWindow(window: Window): string {
  const day = (date: Date) =>
    date.toLocaleDateString(undefined, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });
  const hour = (date: Date) => (date.getUTCHours() ? ` ${String(date.getUTCHours()).padStart(2, "0")}:00` : "");
  return `${day(window.start)}${hour(window.start)} – ${day(window.end)}${hour(window.end)} (UTC)`;
}

/** A duration in words: "850 ms", "12.4 s", "3 min 5 s", "2 h 10 min". */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function parseInstant(text: string | null): Date | null {
  if (!text) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

function floorHour(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 3_600_000) * 3_600_000);
}
