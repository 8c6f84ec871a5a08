// Placeholder until the page is written.
import { Page } from "../components/page";

export function Budgets(_props: Record<string, unknown>) {
  return (
    <Page name="budgets" title="Budgets" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
