//! Converts what ingest did into the contract's messages: record results, cost items, stored
//! events.

use crate::{
    domain::{
        event::EventStatus,
        ledger::{PricedEvent, PricedLine},
        money::Usd,
        pricing::{CostItem, Dimension, Tier},
    },
    grpc::convert::{json_to_struct, timestamp},
    pb,
    service::{ingest::RecordOutcome, line_pricing::line_error},
    store::events::{Repricing, StoredEvent},
};

/// The results of a batch's records, in order.
pub fn record_results(outcomes: impl IntoIterator<Item = RecordOutcome>) -> Vec<pb::RecordResult> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| record_result(index, outcome))
        .collect()
}

/// The result of one record at `index` of its request.
fn record_result(index: usize, outcome: RecordOutcome) -> pb::RecordResult {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    match outcome {
        RecordOutcome::Stored { event, duplicate } => {
            let lines: Vec<pb::LineResult> = event
                .lines
                .iter()
                .enumerate()
                .map(|(line_index, line)| pb::LineResult {
                    index: line_index as u32,
                    status: status(line.status) as i32,
                    cost_usd: usd(line.cost),
                    error: line_error(line_index, line),
                })
                .collect();
            let error = lines.iter().map(|line| line.error.as_str()).filter(|e| !e.is_empty()).collect::<Vec<_>>().join("; ");
            pb::RecordResult {
                index,
                status: status(event.status()) as i32,
                stored: true,
                event_id: event.id.to_string(),
                total_cost_usd: usd(event.total()),
                cost_items: event
                    .lines
                    .iter()
                    .enumerate()
                    .flat_map(|(line_index, line)| cost_items(line_index, line))
                    .collect(),
                lines,
                error,
                field_violations: Vec::new(),
                duplicate,
            }
        }
        RecordOutcome::Invalid(violations) => pb::RecordResult {
            index,
            status: pb::EventStatus::ValidationError as i32,
            error: violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            field_violations: violations
                .into_iter()
                .map(|violation| pb::FieldViolation { field: violation.field, description: violation.description })
                .collect(),
            ..pb::RecordResult::default()
        },
        RecordOutcome::Failed => pb::RecordResult {
            index,
            status: pb::EventStatus::InternalError as i32,
            error: "internal error: nothing was stored; send the record again (with the same idempotency key)"
                .to_owned(),
            ..pb::RecordResult::default()
        },
    }
}

/// A stored event as the read model shows it.
pub fn cost_event(stored: StoredEvent) -> pb::CostEvent {
    let StoredEvent {
        priced,
        idempotency_key,
        run_key,
        customer_name,
        plan_monthly,
        metadata,
        receive_time,
        error,
        repricings,
    } = stored;
    let event_status = status(priced.status());
    let total = usd(priced.total());
    let PricedEvent {
        id,
        usage_time,
        customer_id,
        plan_name,
        agent_code,
        signal_name,
        user_id,
        quantity,
        run: _,
        lines,
    } = priced;
    pb::CostEvent {
        event_id: id.to_string(),
        idempotency_key: idempotency_key.unwrap_or_default(),
        customer: Some(pb::CustomerAttribution {
            id: customer_id,
            name: customer_name.unwrap_or_default(),
            plan: plan_name.zip(plan_monthly).map(|(name, monthly)| pb::Plan {
                name,
                monthly_usd: monthly.to_string(),
            }),
        }),
        user_id: user_id.unwrap_or_default(),
        agent_code,
        signal_name: signal_name.unwrap_or_default(),
        quantity,
        run_id: run_key.unwrap_or_default(),
        usage_time: Some(timestamp(usage_time)),
        receive_time: Some(timestamp(receive_time)),
        metadata: metadata.map(json_to_struct),
        status: event_status as i32,
        total_cost_usd: total,
        lines: lines
            .iter()
            .enumerate()
            .map(|(index, line)| event_line(index, line))
            .collect(),
        repricings: repricings.into_iter().map(repricing).collect(),
        error: error.unwrap_or_default(),
    }
}

fn event_line(index: usize, line: &PricedLine) -> pb::EventLine {
    let usage = &line.usage;
    let (priced_provider, priced_model) = line.priced_as.clone().unwrap_or_default();
    pb::EventLine {
        index: index as u32,
        usage: Some(pb::ServiceUsage {
            provider: line.provider.clone(),
            model: line.model.clone(),
            service_tier: tier(usage.tier) as i32,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_creation_tokens: usage.cache_creation_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            quantity: usage.quantity,
            cost_usd: line
                .manual_cost
                .map(|cost| cost.to_string())
                .unwrap_or_default(),
            latency: line.latency_ms.map(|ms| prost_types::Duration {
                seconds: ms / 1000,
                nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or_default(),
            }),
            call_status: line.call_status.clone().unwrap_or_default(),
        }),
        status: status(line.status) as i32,
        priced_provider,
        priced_model,
        cost_usd: usd(line.cost),
        cost_items: cost_items(index, line),
    }
}

fn repricing(repricing: Repricing) -> pb::Repricing {
    pb::Repricing {
        reprice_time: Some(timestamp(repricing.reprice_time)),
        cause: match repricing.reason.as_str() {
            "MAP_MODEL" => pb::RepricingCause::MapModel,
            "FILL_VOLUME" => pb::RepricingCause::FillVolume,
            "SET_PRICE" => pb::RepricingCause::SetPrice,
            _ => pb::RepricingCause::Unspecified,
        } as i32,
        detail: repricing.detail.unwrap_or_default(),
        previous_status: status(repricing.old_status) as i32,
        previous_total_cost_usd: usd(repricing.old_cost),
        status: status(repricing.new_status) as i32,
        total_cost_usd: usd(repricing.new_cost),
    }
}

/// The items of a line, labelled `<model>/<dimension>` with the model priced.
pub fn cost_items(line_index: usize, line: &PricedLine) -> Vec<pb::CostItem> {
    let (provider, model) = line
        .priced_as
        .clone()
        .unwrap_or_else(|| (line.provider.clone(), line.model.clone()));
    line.items
        .iter()
        .map(|item| cost_item(line_index, &provider, &model, item, line.usage.tier))
        .collect()
}

fn cost_item(
    line_index: usize,
    provider: &str,
    model: &str,
    item: &CostItem,
    call_tier: Tier,
) -> pb::CostItem {
    pb::CostItem {
        label: format!("{model}/{}", item.dimension.label()),
        line_index: line_index as u32,
        provider: provider.to_owned(),
        model: model.to_owned(),
        dimension: dimension(item.dimension) as i32,
        service_tier: tier(item.tier) as i32,
        long_context: item.long_context,
        units: item.units,
        unit_price_usd: item.unit_price.normalize().to_string(),
        cost_usd: item.cost.to_string(),
        price_id: item
            .price
            .map(|price| price.id.to_string())
            .unwrap_or_default(),
        price_effective_time: item.price.map(|price| timestamp(price.effective_time)),
        tier_price_missing: item.billed_without_tier_price(call_tier),
    }
}

/// A known amount with 10 decimal places; empty when unknown.
fn usd(amount: Option<Usd>) -> String {
    amount.map(|amount| amount.to_string()).unwrap_or_default()
}

pub fn status(status: EventStatus) -> pb::EventStatus {
    match status {
        EventStatus::Processed => pb::EventStatus::Processed,
        EventStatus::MissingVolumeData => pb::EventStatus::MissingVolumeData,
        EventStatus::NeedsCostBackfill => pb::EventStatus::NeedsCostBackfill,
    }
}

pub fn dimension(dimension: Dimension) -> pb::CostDimension {
    match dimension {
        Dimension::Input => pb::CostDimension::Input,
        Dimension::Output => pb::CostDimension::Output,
        Dimension::CachedInput => pb::CostDimension::CachedInput,
        Dimension::CacheCreation => pb::CostDimension::CacheCreation,
        Dimension::Reasoning => pb::CostDimension::Reasoning,
        Dimension::Unit => pb::CostDimension::Unit,
        Dimension::Manual => pb::CostDimension::Manual,
    }
}

pub fn tier(tier: Tier) -> pb::ServiceTier {
    match tier {
        Tier::Standard => pb::ServiceTier::Standard,
        Tier::Batch => pb::ServiceTier::Batch,
        Tier::Flex => pb::ServiceTier::Flex,
        Tier::Priority => pb::ServiceTier::Priority,
    }
}
