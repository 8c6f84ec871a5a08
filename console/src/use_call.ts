// One state for every page's calls: loading, ready with the data, or failed with what failed.
import { useCallback, useEffect, useState } from "preact/hooks";
import { describeError } from "./api";

export type CallState<T> =
  | { state: "loading" }
  | { state: "ready"; data: T }
  | { state: "error"; message: string };

/**
 * Runs `load` when the page opens and whenever `deps` change (the URL's window, filters, page), and
 * again on `reload()`. `what` names the call in the error shown ("Margin by customer failed: …").
 * A late answer for an earlier `deps` is dropped, and a result is only ever shown for the `deps` it
 * was loaded for: in the render where the URL changes, the state is already loading (no render
 * shows the old rows as ready under the new URL).
 */
export function useCall<T>(what: string, load: () => Promise<T>, deps: unknown[]): [CallState<T>, () => void] {
  const [result, setResult] = useState<{ deps: unknown[]; call: CallState<T> }>({ deps, call: { state: "loading" } });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setResult({ deps, call: { state: "loading" } });
    load().then(
      (data) => current && setResult({ deps, call: { state: "ready", data } }),
      (error) => current && setResult({ deps, call: { state: "error", message: describeError(what, error) } }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  // Loading at once, in the same render as whatever prompted the reload (an action's notice), so
  // that no render shows the notice over the figures from before the action.
  const reload = useCallback(() => {
    setResult((previous) => ({ deps: previous.deps, call: { state: "loading" } }));
    setGeneration((value) => value + 1);
  }, []);
  const stale = result.deps.length !== deps.length || result.deps.some((value, index) => !Object.is(value, deps[index]));
  return [stale ? { state: "loading" } : result.call, reload];
}

/** The state of several calls together: an error if any failed, loading if any loads. */
export function combined(...states: CallState<unknown>[]): "loading" | "ready" | "error" {
  if (states.some((call) => call.state === "error")) return "error";
  if (states.some((call) => call.state === "loading")) return "loading";
  return "ready";
}
