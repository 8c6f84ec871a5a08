// The frame of every page: its title, the window it shows, and one state tests and people can read
// (`data-state` is loading, ready or error once every call of the page has answered).
import type { ComponentChildren } from "preact";
import type { CallState } from "../use_call";

interface PageProps {
  name: string;
  title: string;
  state: "loading" | "ready" | "error";
  actions?: ComponentChildren;
  children: ComponentChildren;
}

export function Page({ name, title, state, actions, children }: PageProps) {
  return (
    <main data-page={name} data-state={state} aria-busy={state === "loading"}>
      <header class="page-header">
        <h1>{title}</h1>
        {actions && <div class="page-actions">{actions}</div>}
      </header>
      {children}
    </main>
  );
}

interface SectionProps<T> {
  name: string;
  title?: string;
  call: CallState<T>;
  children: (data: T) => ComponentChildren;
}

/** A part of a page fed by one call: a placeholder while it loads, what failed if it failed. */
export function Section<T>({ name, title, call, children }: SectionProps<T>) {
  return (
    <section class="card" data-section={name} data-state={call.state} aria-busy={call.state === "loading"}>
      {title && <h2>{title}</h2>}
      {call.state === "loading" && <p class="loading">Loading…</p>}
      {call.state === "error" && <ErrorBox message={call.message} />}
      {call.state === "ready" && children(call.data)}
    </section>
  );
}

export function ErrorBox({ message }: { message: string }) {
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

/** Shown instead of a list with nothing in it. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
