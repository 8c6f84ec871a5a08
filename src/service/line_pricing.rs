//! Pricing the service lines of a record at ingest (and when parked events are priced later).

use chrono::{DateTime, Utc};

use super::price_book::{ProjectPrices, Resolved};
use crate::domain::{
    FieldViolation,
    event::{EventStatus, LineInput},
    ledger::PricedLine,
    money::Usd,
    pricing::{LinePrice, manual_item, price_line, validate_counts},
};

/// Prices every line; `Err` lists counts that break the convention of the provider that reported
/// them, each named with `path(index)` (the line's path in the request, ending with a dot).
pub fn price_lines(
    lines: &[LineInput],
    prices: &ProjectPrices,
    usage_time: DateTime<Utc>,
    path: impl Fn(usize) -> String,
) -> Result<Vec<PricedLine>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut priced = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let resolved = prices.resolve(&line.provider, &line.model, usage_time);
        match price_reported(index, line, resolved) {
            Ok(line) => priced.push(line),
            Err(found) => violations.extend(found.into_iter().map(|violation| {
                FieldViolation::new(
                    format!("{}{}", path(index), violation.field),
                    violation.description,
                )
            })),
        }
    }
    // Each line's cost fits the store; their sum, the event's total, must too (never a total
    // that leaves a line out).
    let mut costs = priced.iter().filter_map(|line| line.cost);
    if costs.try_fold(Usd::ZERO, Usd::checked_add).is_none() {
        // The lines' list: a line's path up to its index (`services.services[0].`).
        let first = path(0);
        let lines = first
            .split('[')
            .next()
            .unwrap_or(&first)
            .trim_end_matches('.');
        violations.push(FieldViolation::new(
            lines,
            "the lines' costs add up to more than 922337203 USD, the most an event can hold",
        ));
    }
    if violations.is_empty() {
        Ok(priced)
    } else {
        Err(violations)
    }
}

/// Lines priced again (their cost is not the one in `before`) that would carry the event's total
/// past what a total holds are left unpriced, saying why: a total never leaves a priced line out.
/// The lines priced before fit together: ingest refuses a record whose lines do not.
pub fn keep_total_in_range(lines: &mut [PricedLine], before: &[PricedLine]) {
    let repriced =
        |index: usize, line: &PricedLine| before.get(index).is_none_or(|old| old.cost != line.cost);
    let mut total = lines
        .iter()
        .enumerate()
        .filter(|(index, line)| !repriced(*index, line))
        .filter_map(|(_, line)| line.cost)
        .try_fold(Usd::ZERO, Usd::checked_add)
        .unwrap_or(Usd::ZERO);
    for (index, line) in lines.iter_mut().enumerate() {
        let Some(cost) = line.cost.filter(|_| repriced(index, line)) else {
            continue;
        };
        match total.checked_add(cost) {
            Some(sum) => total = sum,
            None => {
                line.status = EventStatus::NeedsCostBackfill;
                line.cost = None;
                line.items.clear();
                line.error = Some(format!(
                    "line {index}: its cost would carry the event's total past 922337203 USD, the \
                     most an event can hold"
                ));
            }
        }
    }
}

/// Prices one line in the token convention of the provider that reported it, whatever model's
/// prices apply after a mapping: the counts mean what their provider meant. `Err` lists the counts
/// that break that convention (field names relative to the line): they can not be turned into
/// billed units, so no part of the line is priced. Ingest, quotes, `FillVolume` and every repricing
/// price lines here, so they agree on what counts are valid and what they cost.
pub fn price_reported(
    index: usize,
    line: &LineInput,
    resolved: Resolved,
) -> Result<PricedLine, Vec<FieldViolation>> {
    let violations = validate_counts(&line.usage, resolved.convention);
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(price_one(index, line, resolved))
}

/// A stored line whose counts break its provider's convention (the catalog learnt the provider, or
/// its convention, after the line was stored): it stays parked, saying why, rather than being
/// priced in part.
pub fn parked_for_counts(
    index: usize,
    line: &PricedLine,
    violations: &[FieldViolation],
) -> PricedLine {
    let problems: Vec<String> = violations.iter().map(ToString::to_string).collect();
    PricedLine {
        status: EventStatus::NeedsCostBackfill,
        cost: None,
        items: Vec::new(),
        priced_as: None,
        error: Some(format!(
            "line {index}: its counts break the token convention of provider {:?}, so no part of \
             it is priced ({})",
            line.provider,
            problems.join(", ")
        )),
        ..line.clone()
    }
}

/// Prices one line whose counts are valid: a manual cost as given, else from the resolved prices.
fn price_one(index: usize, line: &LineInput, resolved: Resolved) -> PricedLine {
    let mut priced = PricedLine {
        provider: line.provider.clone(),
        model: line.model.clone(),
        usage: line.usage,
        manual_cost: line.manual_cost,
        latency_ms: line.latency_ms,
        call_status: line.call_status.clone(),
        status: EventStatus::Processed,
        cost: None,
        items: Vec::new(),
        priced_as: None,
        error: None,
    };
    if let Some(cost) = line.manual_cost {
        priced.cost = Some(cost);
        priced.items = vec![manual_item(cost)];
        return priced;
    }
    let Some(prices) = resolved.prices else {
        priced.status = EventStatus::NeedsCostBackfill;
        priced.error = Some(line_error(index, &priced));
        return priced;
    };
    match price_line(&line.usage, resolved.convention, &prices) {
        LinePrice::Priced { items, cost } => {
            priced.cost = Some(cost);
            priced.items = items;
            priced.priced_as = Some((prices.provider, prices.model));
        }
        LinePrice::MissingVolume => {
            priced.status = EventStatus::MissingVolumeData;
            priced.priced_as = Some((prices.provider, prices.model));
            priced.error = Some(line_error(index, &priced));
        }
        LinePrice::Unpriced { reason } => {
            priced.status = EventStatus::NeedsCostBackfill;
            priced.error = Some(format!(
                "line {index}: {reason} for provider {:?} model {:?}",
                line.provider, line.model
            ));
        }
    }
    priced
}

/// Why a line has no cost, from what is stored about it.
pub fn line_error(index: usize, line: &PricedLine) -> String {
    match line.status {
        EventStatus::Processed => String::new(),
        EventStatus::MissingVolumeData => format!(
            "line {index}: the price of provider {:?} model {:?} needs input_tokens or output_tokens (or quantity \
             for a per-unit service); send them with FillVolume",
            line.provider, line.model
        ),
        EventStatus::NeedsCostBackfill => format!(
            "line {index}: no price for provider {:?} model {:?} at the usage time; give one with MapModel or SetPrice",
            line.provider, line.model
        ),
    }
}
