// Placeholder until the page is written.
import { Page } from "../components/page";

export function RunDetail(_props: Record<string, unknown>) {
  return (
    <Page name="run" title="RunDetail" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
