//! `Reports.GetNeedsAttention` on the wire.

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::timestamp,
    ingest_results::{dimension, tier},
    pricing::unpriced_message,
    status::tenant,
    top_runs::{check_order, optional_time},
};
use crate::{
    domain::DomainError,
    pb,
    service::needs_attention::{NeedsAttention, needs_attention},
    store::attention::{MissingVolumeGroup, TierPriceMissingGroup},
};

/// Answers `GetNeedsAttention`.
pub async fn get_needs_attention(
    db: &DatabaseConnection,
    request: Request<pb::GetNeedsAttentionRequest>,
) -> Result<Response<pb::GetNeedsAttentionResponse>, Status> {
    let tenant = tenant(&request)?;
    let pb::GetNeedsAttentionRequest {
        start_time,
        end_time,
        counts_only,
    } = request.into_inner();
    let mut violations = Vec::new();
    let start_time = optional_time(start_time, "start_time", &mut violations);
    let end_time = optional_time(end_time, "end_time", &mut violations);
    check_order(start_time, end_time, &mut violations);
    if !violations.is_empty() {
        return Err(DomainError::Invalid(violations).into());
    }
    let NeedsAttention {
        counts,
        unpriced_models,
        missing_volume,
        tier_price_missing_events,
        tier_price_missing,
    } = needs_attention(db, tenant, (start_time, end_time), counts_only).await?;
    Ok(Response::new(pb::GetNeedsAttentionResponse {
        unpriced_event_count: counts.unpriced_events,
        unpriced_models: unpriced_models.into_iter().map(unpriced_message).collect(),
        missing_volume_event_count: counts.missing_volume_events,
        missing_volume: missing_volume.into_iter().map(group_message).collect(),
        tier_price_missing_event_count: tier_price_missing_events,
        tier_price_missing: tier_price_missing
            .into_iter()
            .map(tier_group_message)
            .collect(),
    }))
}

fn tier_group_message(group: TierPriceMissingGroup) -> pb::TierPriceMissingGroup {
    let TierPriceMissingGroup {
        provider,
        model,
        tier: call_tier,
        dimensions,
        events,
        first_seen,
        last_seen,
        samples,
    } = group;
    pb::TierPriceMissingGroup {
        provider,
        model,
        service_tier: tier(call_tier) as i32,
        dimensions: dimensions
            .into_iter()
            .map(|billed| dimension(billed) as i32)
            .collect(),
        event_count: events,
        first_seen_time: Some(timestamp(first_seen)),
        last_seen_time: Some(timestamp(last_seen)),
        sample_event_ids: samples.iter().map(ToString::to_string).collect(),
    }
}

fn group_message(group: MissingVolumeGroup) -> pb::MissingVolumeGroup {
    let MissingVolumeGroup {
        agent_code,
        provider,
        model,
        events,
        first_seen,
        last_seen,
        samples,
    } = group;
    pb::MissingVolumeGroup {
        agent_code,
        provider,
        model,
        event_count: events,
        first_seen_time: Some(timestamp(first_seen)),
        last_seen_time: Some(timestamp(last_seen)),
        sample_event_ids: samples.iter().map(ToString::to_string).collect(),
    }
}
