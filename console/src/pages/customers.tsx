// Placeholder until the page is written.
import { Page } from "../components/page";

export function Customers(_props: Record<string, unknown>) {
  return (
    <Page name="customers" title="Customers" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
