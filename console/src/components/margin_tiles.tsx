// The tiles of a margin row (the overview's window, one customer's): revenue, cost, margin,
// margin % and events, then any tiles a page adds.
import type { ComponentChildren } from "preact";
import type { MarginRow } from "../gen/tally/v1/reports_pb";
import { Count, Money, Percent, Tile } from "./values";

export function MarginTiles({ totals, children }: { totals: MarginRow; children?: ComponentChildren }) {
  return (
    <div class="tiles">
      <Tile label="Revenue">
        <Money figure="revenue" value={totals.revenueUsd} />
      </Tile>
      <Tile label="Cost">
        <Money figure="cost" value={totals.costUsd} />
      </Tile>
      <Tile label="Margin">
        <Money figure="margin" value={totals.marginUsd} />
      </Tile>
      <Tile label="Margin %">
        <Percent figure="margin-percent" value={totals.marginPercent} />
      </Tile>
      <Tile label="Events">
        <Count figure="events" value={totals.eventCount} />
      </Tile>
      {children}
    </div>
  );
}
