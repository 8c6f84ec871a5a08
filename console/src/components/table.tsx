// Sorting and paging kept in the URL (`sort`, `desc`, `page`), so a sorted, paged view is shareable.
import type { ComponentChildren } from "preact";
import { setParams } from "../router";

interface SortHeaderProps {
  column: string;
  sort: string;
  descending: boolean;
  children: ComponentChildren;
  numeric?: boolean;
}

/** A column header that sorts by `column`; a second click turns the order round. */
export function SortHeader({ column, sort, descending, children, numeric }: SortHeaderProps) {
  const active = sort === column;
  const ariaSort = active ? (descending ? "descending" : "ascending") : "none";
  return (
    <th aria-sort={ariaSort} class={numeric ? "num" : undefined} scope="col">
      <button
        type="button"
        class="sort"
        data-sort={column}
        onClick={() => setParams({ sort: column, desc: active && descending ? undefined : "1", page: undefined })}
      >
        {children}
        {active ? (descending ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );
}

/** Next page by the API's token; "First page" goes back to the start. */
export function Pager({ nextToken, onFirst }: { nextToken: string; onFirst: boolean }) {
  if (!nextToken && onFirst) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {!onFirst && (
        <button type="button" onClick={() => setParams({ page: undefined })}>
          First page
        </button>
      )}
      {nextToken && (
        <button type="button" data-action="next-page" onClick={() => setParams({ page: nextToken })}>
          Next page
        </button>
      )}
    </nav>
  );
}
