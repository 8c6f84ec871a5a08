//! What needs a person (`Reports.GetNeedsAttention`): models with no price, events missing volume,
//! and lines billed at the standard price for want of a tier price. Parked counts come from the
//! aggregates when the window is whole hours: the coarsest that cover it when both ends are set,
//! the hourly ones when an end is open; otherwise, and for groups and samples, from the parked
//! events only, on the (project, status, usage time) index; the lines without a tier price from
//! their partial index.

use chrono::{DateTime, Timelike, Utc};
use sea_orm::DatabaseConnection;

use crate::{
    domain::{DomainError, report, tenant::Tenant},
    store::{
        attention::{self, MissingVolumeGroup, ParkedCounts, TierPriceMissingGroup, Window},
        pricing_admin::{self, UnpricedModel},
    },
};

/// Unpriced models, missing-volume groups and tier groups listed at most.
pub const MAX_GROUPS: u64 = 100;
/// Sample event ids per missing-volume or tier group.
pub const SAMPLES: u64 = 5;

/// The answer of `GetNeedsAttention`.
#[derive(Clone, Debug)]
pub struct NeedsAttention {
    pub counts: ParkedCounts,
    pub unpriced_models: Vec<UnpricedModel>,
    pub missing_volume: Vec<MissingVolumeGroup>,
    /// Events with a line billed at the standard price for want of a tier price.
    pub tier_price_missing_events: u64,
    pub tier_price_missing: Vec<TierPriceMissingGroup>,
}

/// Whether a window end is on a whole UTC hour, so that the hourly aggregates answer exactly.
fn on_the_hour(time: Option<DateTime<Utc>>) -> bool {
    time.is_none_or(|time| time.minute() == 0 && time.second() == 0 && time.nanosecond() == 0)
}

/// Reads what needs attention in a usage-time window; with `counts_only`, only the counts (the
/// lists stay empty), which is all a dashboard's tile reads.
pub async fn needs_attention(
    db: &DatabaseConnection,
    tenant: Tenant,
    window: Window,
    counts_only: bool,
) -> Result<NeedsAttention, DomainError> {
    let project_id = tenant.project_id;
    let counts = async {
        match window {
            (Some(start), Some(end)) if on_the_hour(window.0) && on_the_hour(window.1) => {
                let window = report::Window { start, end };
                attention::parked_counts_aggregated(db, project_id, window).await
            }
            _ if on_the_hour(window.0) && on_the_hour(window.1) => {
                attention::parked_counts_hourly(db, project_id, window).await
            }
            _ => attention::parked_counts_exact(db, project_id, window).await,
        }
    };
    let tier_count = attention::tier_price_missing_count(db, project_id, window);
    if counts_only {
        let (counts, tier_price_missing_events) = tokio::try_join!(counts, tier_count)?;
        return Ok(NeedsAttention {
            counts,
            unpriced_models: Vec::new(),
            missing_volume: Vec::new(),
            tier_price_missing_events,
            tier_price_missing: Vec::new(),
        });
    }
    // The same listing as `Pricing.ListUnpricedModels`, first page.
    let models = pricing_admin::list_unpriced(db, project_id, window, 0, MAX_GROUPS);
    let groups = attention::missing_volume_groups(db, project_id, window, MAX_GROUPS, SAMPLES);
    let tier_groups =
        attention::tier_price_missing_groups(db, project_id, window, MAX_GROUPS, SAMPLES);
    let (counts, unpriced_models, missing_volume, tier_price_missing_events, tier_price_missing) =
        tokio::try_join!(counts, models, groups, tier_count, tier_groups)?;
    Ok(NeedsAttention {
        counts,
        unpriced_models,
        missing_volume,
        tier_price_missing_events,
        tier_price_missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_hours_read_the_aggregates() {
        let hour = DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(on_the_hour(None));
        assert!(on_the_hour(Some(hour)));
        assert!(!on_the_hour(Some(hour + chrono::TimeDelta::seconds(1))));
        assert!(!on_the_hour(Some(
            hour + chrono::TimeDelta::microseconds(1)
        )));
    }
}
