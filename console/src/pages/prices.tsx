// Placeholder until the page is written.
import { Page } from "../components/page";

export function Prices(_props: Record<string, unknown>) {
  return (
    <Page name="prices" title="Prices" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
