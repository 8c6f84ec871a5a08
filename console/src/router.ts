// Path routing over the History API: every page, window, grouping, sort and page token lives in
// the URL, so a view can be bookmarked and shared (the key never does: it is in session storage).
import { useEffect, useState } from "preact/hooks";

export interface Location {
  path: string;
  params: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

window.addEventListener("popstate", () => listeners.forEach((listener) => listener()));

/** Goes to `href` (a path with an optional query) without reloading. */
export function navigate(href: string, replace = false): void {
  if (replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  window.scrollTo(0, 0);
  listeners.forEach((listener) => listener());
}

/** The current location; re-renders on every navigation. */
export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return location;
}

/** A link to `path` with `params` (empty values dropped). */
export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * The current URL with some query parameters changed (undefined or "" removes one); `replace`
 * keeps the back button for pages rather than every keystroke of a filter.
 */
export function setParams(changes: Record<string, string | undefined>, replace = false): void {
  const { path, params } = current();
  for (const [name, value] of Object.entries(changes)) {
    if (value) params.set(name, value);
    else params.delete(name);
  }
  const text = params.toString();
  navigate(text ? `${path}?${text}` : path, replace);
}

/** Follows in-app links without a reload (plain clicks only; new tabs keep working). */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const anchor = (event.target as Element | null)?.closest("a");
  if (!anchor || anchor.target || anchor.origin !== window.location.origin) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
