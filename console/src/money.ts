// Money as the API gives it: decimal strings, formatted by moving characters, never through a
// JavaScript number (which would round 0.1000000001 away). Every digit the API sent is shown; only
// trailing zeros past the cents are dropped.

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** "1234.5000000000" → "$1,234.50"; "-0.0000123400" → "−$0.00001234"; "" → "—". */
export function formatUsd(value: string): string {
  if (value === "") return "—";
  const parts = DECIMAL.exec(value);
  if (!parts) return value;
  const [, sign, whole, fraction = ""] = parts;
  const cents = fraction.replace(/0+$/, "").padEnd(2, "0");
  const grouped = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const negative = sign === "-" && /[1-9]/.test(whole + fraction);
  return `${negative ? "−" : ""}$${grouped}.${cents}`;
}

/** "37.50" → "37.50 %"; "" → "—". */
export function formatPercent(value: string): string {
  return value === "" ? "—" : `${value.replace(/^-/, "−")} %`;
}

/** A count with thousands separators; bigint as protobuf-es gives uint64. */
export function formatCount(value: bigint | number): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Compares two decimal strings exactly (for sorting and bars): -1, 0 or 1. Empty sorts below any
 * number.
 */
export function compareDecimal(a: string, b: string): number {
  if (a === b) return 0;
  if (a === "") return -1;
  if (b === "") return 1;
  const [x, y] = [scaled(a), scaled(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The share a / b as a fraction in 0..1 for drawing (a bar's length), exact to 1e-6. */
export function shareOf(a: string, b: string): number {
  const [x, y] = [scaled(a), scaled(b)];
  if (y <= 0n || x <= 0n) return 0;
  const ppm = (x * 1_000_000n) / y;
  return Math.min(1, Number(ppm) / 1_000_000);
}

// The value in units of 1e-10 (the contract's precision) as a bigint; longer fractions are cut.
function scaled(value: string): bigint {
  const parts = DECIMAL.exec(value);
  if (!parts) return 0n;
  const [, sign, whole, fraction = ""] = parts;
  const units = BigInt(whole + fraction.padEnd(10, "0").slice(0, 10));
  return sign === "-" ? -units : units;
}

/** Scales a decimal string to a plain number for chart geometry only (never shown as money). */
export function chartValue(value: string): number {
  return value === "" ? 0 : Number(scaled(value)) / 1e10;
}
