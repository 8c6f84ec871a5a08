// The console: sign in with a key, then the pages, each a view of existing calls.
import { createContext } from "preact";
import { useContext, useState } from "preact/hooks";
import { api, describeError, isUnauthenticated } from "./api";
import { href, navigate, onLinkClick, useLocation, type Location } from "./router";
import { forgetKey, keyKind, storedKey, storeKey, type KeyKind } from "./session";
import { Overview } from "./pages/overview";
import { Customers } from "./pages/customers";
import { CustomerDetail } from "./pages/customer";
import { Runs } from "./pages/runs";
import { RunDetail } from "./pages/run";
import { Attention } from "./pages/attention";
import { Budgets } from "./pages/budgets";
import { Prices } from "./pages/prices";

/** What the signed-in key may do; pages hide or disable actions a publishable key cannot take. */
export const KeyKindContext = createContext<KeyKind>("publishable");

/** True when the signed-in key is a secret key (it may act, not only read). */
export function useCanAct(): boolean {
  return useContext(KeyKindContext) === "secret";
}

const PAGES: [string, string][] = [
  ["/", "Overview"],
  ["/customers", "Customers"],
  ["/runs", "Runs"],
  ["/attention", "Needs attention"],
  ["/budgets", "Budgets"],
  ["/prices", "Prices"],
];

export function App() {
  const location = useLocation();
  const [key, setKey] = useState(storedKey);
  const kind = key ? keyKind(key) : null;
  if (!key || !kind) return <SignIn onSignedIn={setKey} />;
  const signOut = () => {
    forgetKey();
    setKey(null);
  };
  return (
    <KeyKindContext.Provider value={kind}>
      <div class="shell" onClick={onLinkClick}>
        <a class="skip" href="#content">
          Skip to content
        </a>
        <nav class="nav" aria-label="Pages">
          <a class="brand" href="/">
            Tally
          </a>
          <ul>
            {PAGES.map(([path, name]) => (
              <li key={path}>
                <a href={path} aria-current={section(location.path) === path ? "page" : undefined}>
                  {name}
                </a>
              </li>
            ))}
          </ul>
          <div class="who">
            <span class={`key-kind ${kind}`} data-key-kind={kind} title={kind === "secret" ? "This key reads and acts" : "This key only reads"}>
              {kind === "secret" ? "Secret key" : "Read-only key"}
            </span>
            <button type="button" onClick={signOut}>
              Sign out
            </button>
          </div>
        </nav>
        <div id="content" class="content">
          <Route location={location} />
        </div>
      </div>
    </KeyKindContext.Provider>
  );
}

function Route({ location }: { location: Location }) {
  const { path, params } = location;
  const [, first, second] = path.split("/").map(decodeURIComponent);
  switch (first) {
    case "":
      return <Overview params={params} />;
    case "customers":
      return second ? <CustomerDetail customerId={second} params={params} /> : <Customers params={params} />;
    case "runs":
      return second ? <RunDetail runId={second} /> : <Runs params={params} />;
    case "attention":
      return <Attention params={params} />;
    case "budgets":
      return <Budgets />;
    case "prices":
      return <Prices params={params} />;
    default:
      return (
        <main data-page="not-found" data-state="ready">
          <h1>No such page</h1>
          <p>
            <a href={href("/")}>Go to the overview</a>
          </p>
        </main>
      );
  }
}

function section(path: string): string {
  const first = path.split("/")[1];
  return first ? `/${first}` : "/";
}

/** Checks the key with one read (any key kind may read budgets) before keeping it. */
function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const input = (event.currentTarget as HTMLFormElement).elements.namedItem("key") as HTMLInputElement;
    const key = input.value.trim();
    if (!keyKind(key)) {
      setError("A Tally key starts with sk_ (secret) or pk_ (publishable).");
      return;
    }
    setBusy(true);
    setError("");
    storeKey(key);
    try {
      await api.budgets.listBudgets({ pageSize: 1 });
      input.value = "";
      onSignedIn(key);
      navigate(window.location.pathname + window.location.search, true);
    } catch (failure) {
      forgetKey();
      setError(isUnauthenticated(failure) ? "This key is unknown or revoked." : describeError("Checking the key", failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" data-page="sign-in" data-state="ready">
      <form onSubmit={submit} autocomplete="off">
        <h1>Tally</h1>
        <p>
          Paste an API key. A publishable key (<code>pk_…</code>) reads everything; a secret key (<code>sk_…</code>) can also
          act. The key stays in this tab only and is forgotten when the tab closes.
        </p>
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" spellcheck={false} required />
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
