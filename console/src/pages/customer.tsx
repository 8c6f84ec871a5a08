// Placeholder until the page is written.
import { Page } from "../components/page";

export function CustomerDetail(_props: Record<string, unknown>) {
  return (
    <Page name="customer" title="CustomerDetail" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
