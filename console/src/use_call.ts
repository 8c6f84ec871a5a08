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
 * A late answer for an earlier `deps` is dropped.
 */
export function useCall<T>(what: string, load: () => Promise<T>, deps: unknown[]): [CallState<T>, () => void] {
  const [result, setResult] = useState<CallState<T>>({ state: "loading" });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setResult({ state: "loading" });
    load().then(
      (data) => current && setResult({ state: "ready", data }),
      (error) => current && setResult({ state: "error", message: describeError(what, error) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  // Loading at once, in the same render as whatever prompted the reload (an action's notice), so
  // that no render shows the notice over the figures from before the action.
  const reload = useCallback(() => {
    setResult({ state: "loading" });
    setGeneration((value) => value + 1);
  }, []);
  return [result, reload];
}

/** The state of several calls together: an error if any failed, loading if any loads. */
export function combined(...states: CallState<unknown>[]): "loading" | "ready" | "error" {
  if (states.some((call) => call.state === "error")) return "error";
  if (states.some((call) => call.state === "loading")) return "loading";
  return "ready";
}
