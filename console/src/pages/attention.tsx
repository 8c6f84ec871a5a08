// Placeholder until the page is written.
import { Page } from "../components/page";

export function Attention(_props: Record<string, unknown>) {
  return (
    <Page name="attention" title="Attention" state="ready">
      <p>Not written yet.</p>
    </Page>
  );
}
