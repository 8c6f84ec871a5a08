// The signed-in key lives in this tab's session storage only: never in a URL, a cookie or a log.
const STORAGE_KEY = "tally.key";

/** What a key may do: a publishable key reads, a secret key also acts. */
export type KeyKind = "publishable" | "secret";

export function storedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** The kind a key's prefix names; null for text that is no Tally key. */
export function keyKind(key: string): KeyKind | null {
  if (key.startsWith("pk_")) return "publishable";
  if (key.startsWith("sk_")) return "secret";
  return null;
}
