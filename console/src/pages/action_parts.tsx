// What the acting pages (needs attention, budgets, prices) share: the outcome of the last action,
// buttons a publishable key sees disabled, and a pager for a list that is not the page's main one.
import type { ButtonHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { useCanAct } from "../app";
import { setParams } from "../router";
import "./action_parts.css";

/** The title of an action button a publishable key sees disabled. */
export const NEEDS_SECRET_KEY = "Needs a secret key (sk_)";

/** What the last action did (`.notice`) or the API's refusal (`.error`). */
export type Outcome = { kind: "notice" | "error"; content: ComponentChildren } | null;

/** The last action's outcome, scrolled into view when it changes. */
export function OutcomeBox({ outcome }: { outcome: Outcome }) {
  const box = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    box.current?.scrollIntoView?.({ block: "nearest" });
  }, [outcome]);
  if (!outcome) return null;
  return outcome.kind === "notice" ? (
    <p class="notice" role="status" ref={box}>
      {outcome.content}
    </p>
  ) : (
    <p class="error" role="alert" ref={box}>
      {outcome.content}
    </p>
  );
}

/** Said once on a page whose actions a publishable key cannot take. */
export function ReadOnlyNote({ children }: { children: ComponentChildren }) {
  if (useCanAct()) return null;
  return (
    <p class="read-only-note" data-read-only>
      {children}
    </p>
  );
}

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & { action: string };

/** A button that acts: `data-action`, disabled with a title for a publishable key. */
export function ActionButton({ action, disabled, title, type, ...rest }: ButtonProps) {
  const canAct = useCanAct();
  return (
    <button
      {...rest}
      type={type ?? "button"}
      data-action={action}
      disabled={!canAct || disabled}
      title={canAct ? title : NEEDS_SECRET_KEY}
    />
  );
}

/** Pages of a secondary list, by the API's token kept in the URL parameter `param`. */
export function TokenPager({ param, current, nextToken }: { param: string; current: string; nextToken: string }) {
  if (!nextToken && !current) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {current && (
        <button type="button" onClick={() => setParams({ [param]: undefined })}>
          First page
        </button>
      )}
      {nextToken && (
        <button type="button" data-action="next-page" data-pager={param} onClick={() => setParams({ [param]: nextToken })}>
          Next page
        </button>
      )}
    </nav>
  );
}

/** A whole number typed in a form, for a uint64 field: undefined when empty, null when not one. */
export function wholeNumber(text: string): bigint | undefined | null {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  return /^\d+$/.test(trimmed) ? BigInt(trimmed) : null;
}
