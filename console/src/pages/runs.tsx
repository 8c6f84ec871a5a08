// Placeholder until the page is written.
import { Page } from "../components/page";

export function Runs(_props: Record<string, unknown>) {
  return (
    <Page name="runs" title="Runs" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
