//! What needs a person: counts of parked events, from the hourly aggregates or from the events, the
//! events missing volume grouped by agent, provider and model, and the events billed at the
//! standard price for want of a tier price grouped by provider, model and tier.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    StoreError,
    report_reads::{self, GroupQuery},
    sql::Params,
};
use crate::domain::{
    pricing::{Dimension, Tier},
    report,
};

/// A usage-time window; either end may be open.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Parked events of a window: (`NEEDS_COST_BACKFILL`, `MISSING_VOLUME_DATA`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParkedCounts {
    pub unpriced_events: u64,
    pub missing_volume_events: u64,
}

/// Events parked for missing volume, of one agent and one provider+model of their lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingVolumeGroup {
    pub agent_code: String,
    pub provider: String,
    pub model: String,
    pub events: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Newest first.
    pub samples: Vec<Uuid>,
}

fn scope(params: &mut Params, project_id: Uuid, column: &str, window: Window) -> String {
    let mut scope = format!("project_id = {}", params.bind(project_id));
    if let Some(start) = window.0 {
        scope.push_str(&format!(" AND {column} >= {}", params.bind(start)));
    }
    if let Some(end) = window.1 {
        scope.push_str(&format!(" AND {column} < {}", params.bind(end)));
    }
    scope
}

fn count(row: &sea_orm::QueryResult, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get("", column)?;
    Ok(u64::try_from(value).unwrap_or_default())
}

/// Sums the hourly aggregates of the hours starting in the window: exact when both ends are on a
/// whole hour (or open), read from a few rows per hour instead of the events.
pub async fn parked_counts_hourly(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: Window,
) -> Result<ParkedCounts, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let scope = scope(&mut params, project_id, "hour_start", window);
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(unpriced_events), 0) AS BIGINT) AS unpriced, \
         CAST(COALESCE(SUM(missing_volume_events), 0) AS BIGINT) AS missing \
         FROM event_hourly WHERE {scope}"
    );
    let row = db.query_one_raw(params.statement(sql)).await?;
    Ok(match row {
        Some(row) => ParkedCounts {
            unpriced_events: count(&row, "unpriced")?,
            missing_volume_events: count(&row, "missing")?,
        },
        None => ParkedCounts::default(),
    })
}

/// Where [`EVENT_SUMS`](super::rollups::EVENT_SUMS) holds the parked counts.
const UNPRICED_SUM: usize = 2;
const MISSING_VOLUME_SUM: usize = 3;

/// The parked events of a window with both ends on whole hours, from the coarsest aggregates that
/// cover it (monthly and daily rows for whole months and days, hourly ones at the edges), as the
/// reports read their figures: a few thousand rows for a month of a million events, where the
/// hourly rows alone are nearly one per event.
pub async fn parked_counts_aggregated(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: report::Window,
) -> Result<ParkedCounts, StoreError> {
    let query = GroupQuery {
        project_id,
        window,
        dimensions: &[],
        period: None,
        filters: &[],
    };
    let mut counts = ParkedCounts::default();
    for group in report_reads::event_groups(db, &query).await? {
        counts.unpriced_events += u64::try_from(group.sums[UNPRICED_SUM]).unwrap_or_default();
        counts.missing_volume_events +=
            u64::try_from(group.sums[MISSING_VOLUME_SUM]).unwrap_or_default();
    }
    Ok(counts)
}

/// The parked events of every project, from the hourly aggregates (for the metrics' gauge; on
/// PostgreSQL it lags by the events not folded yet).
pub async fn parked_counts_everywhere(
    db: &impl sea_orm::ConnectionTrait,
) -> Result<ParkedCounts, StoreError> {
    let params = Params::new(db.get_database_backend());
    let sql = "SELECT CAST(COALESCE(SUM(unpriced_events), 0) AS BIGINT) AS unpriced, \
               CAST(COALESCE(SUM(missing_volume_events), 0) AS BIGINT) AS missing \
               FROM event_hourly"
        .to_owned();
    let row = db.query_one_raw(params.statement(sql)).await?;
    Ok(match row {
        Some(row) => ParkedCounts {
            unpriced_events: count(&row, "unpriced")?,
            missing_volume_events: count(&row, "missing")?,
        },
        None => ParkedCounts::default(),
    })
}

/// Counts the parked events of the window on the (project, status, usage time) index.
pub async fn parked_counts_exact(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: Window,
) -> Result<ParkedCounts, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let scope = scope(&mut params, project_id, "usage_time", window);
    let sql = format!(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS events FROM cost_events \
         WHERE {scope} AND status IN ('NEEDS_COST_BACKFILL', 'MISSING_VOLUME_DATA') GROUP BY status"
    );
    let mut counts = ParkedCounts::default();
    for row in db.query_all_raw(params.statement(sql)).await? {
        let status: String = row.try_get("", "status")?;
        let events = count(&row, "events")?;
        match status.as_str() {
            "NEEDS_COST_BACKFILL" => counts.unpriced_events = events,
            _ => counts.missing_volume_events = events,
        }
    }
    Ok(counts)
}

/// The events parked for missing volume in the window, grouped by agent and the provider+model of
/// their lines missing volume, most events first, at most `limit` groups, each with up to
/// `samples` event ids, newest first.
pub async fn missing_volume_groups(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: Window,
    limit: u64,
    samples: u64,
) -> Result<Vec<MissingVolumeGroup>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let mut scope = format!(
        "e.project_id = {} AND e.status = 'MISSING_VOLUME_DATA' AND l.status = 'MISSING_VOLUME_DATA'",
        params.bind(project_id)
    );
    window_scope(&mut params, &mut scope, window);
    // One row per event and group, however many of its lines miss volume.
    let parked = format!(
        "SELECT DISTINCT a.agent_code AS k1, l.provider AS k2, l.model AS k3, e.id, e.usage_time \
         FROM cost_events e JOIN service_lines l ON l.event_ref = e.id \
         JOIN agents a ON a.id = e.agent_ref WHERE {scope}"
    );
    let groups = event_groups(db, params, &parked, limit, samples).await?;
    Ok(groups
        .into_iter()
        .map(|group| {
            let [agent_code, provider, model] = group.key;
            MissingVolumeGroup {
                agent_code,
                provider,
                model,
                events: group.events,
                first_seen: group.first_seen,
                last_seen: group.last_seen,
                samples: group.samples,
            }
        })
        .collect())
}

/// Events with lines billed at the standard price for want of a price at their tier, of one
/// provider+model (the one priced) and tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierPriceMissingGroup {
    pub provider: String,
    pub model: String,
    /// The tier the calls ran at.
    pub tier: Tier,
    /// The dimensions billed at the standard price, in order.
    pub dimensions: Vec<Dimension>,
    pub events: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Newest first.
    pub samples: Vec<Uuid>,
}

/// The flagged lines (`tier_price_missing`) of the window, on the partial index of migration 000011;
/// `select` lists what to read of each (`l` the line, `e` its event).
fn flagged_lines(params: &mut Params, project_id: Uuid, window: Window, select: &str) -> String {
    let mut scope = format!(
        "l.project_id = {} AND l.tier_price_missing = TRUE",
        params.bind(project_id)
    );
    window_scope(params, &mut scope, window);
    format!(
        "SELECT DISTINCT {select} FROM service_lines l JOIN cost_events e ON e.id = l.event_ref \
         WHERE {scope}"
    )
}

/// Counts the events of the window with a flagged line.
pub async fn tier_price_missing_count(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: Window,
) -> Result<u64, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let events = flagged_lines(&mut params, project_id, window, "e.id");
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS events FROM ({events}) flagged");
    match db.query_one_raw(params.statement(sql)).await? {
        Some(row) => count(&row, "events"),
        None => Ok(0),
    }
}

/// The events of the window with flagged lines, grouped by the priced provider+model and tier of
/// those lines, most events first, at most `limit` groups, each with the dimensions billed at the
/// standard price and up to `samples` event ids, newest first.
pub async fn tier_price_missing_groups(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    window: Window,
    limit: u64,
    samples: u64,
) -> Result<Vec<TierPriceMissingGroup>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let flagged = flagged_lines(
        &mut params,
        project_id,
        window,
        "l.priced_provider AS k1, l.priced_model AS k2, l.service_tier AS k3, e.id, e.usage_time",
    );
    let groups = event_groups(db, params, &flagged, limit, samples).await?;
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    // The items billed at another tier than their line's (the standard one), by group.
    let mut params = Params::new(db.get_database_backend());
    let lines = flagged_lines(
        &mut params,
        project_id,
        window,
        "l.id, l.priced_provider, l.priced_model, l.service_tier",
    );
    let sql = format!(
        "SELECT DISTINCT f.priced_provider, f.priced_model, f.service_tier, i.dimension \
         FROM ({lines}) f JOIN line_cost_items i ON i.line_ref = f.id \
         WHERE i.price_source <> 'MANUAL' AND i.service_tier <> f.service_tier"
    );
    let mut dimensions: HashMap<[String; 3], Vec<Dimension>> = HashMap::new();
    for row in db.query_all_raw(params.statement(sql)).await? {
        let stored: String = row.try_get("", "dimension")?;
        let dimension = Dimension::parse(&stored).ok_or_else(|| corrupt("dimension", &stored))?;
        dimensions
            .entry([
                row.try_get("", "priced_provider")?,
                row.try_get("", "priced_model")?,
                row.try_get("", "service_tier")?,
            ])
            .or_default()
            .push(dimension);
    }
    groups
        .into_iter()
        .map(|group| {
            let mut dimensions = dimensions.remove(&group.key).unwrap_or_default();
            dimensions.sort_unstable();
            let [provider, model, tier] = group.key;
            Ok(TierPriceMissingGroup {
                tier: Tier::parse(&tier).ok_or_else(|| corrupt("service_tier", &tier))?,
                provider,
                model,
                dimensions,
                events: group.events,
                first_seen: group.first_seen,
                last_seen: group.last_seen,
                samples: group.samples,
            })
        })
        .collect()
}

fn corrupt(what: &str, stored: &str) -> StoreError {
    StoreError::Other(sea_orm::DbErr::Type(format!("bad {what} {stored:?}")))
}

/// Restricts `scope` to events (`e`) of the window.
fn window_scope(params: &mut Params, scope: &mut String, window: Window) {
    if let Some(start) = window.0 {
        scope.push_str(&format!(" AND e.usage_time >= {}", params.bind(start)));
    }
    if let Some(end) = window.1 {
        scope.push_str(&format!(" AND e.usage_time < {}", params.bind(end)));
    }
}

/// Events grouped by a key of three texts.
struct EventGroup {
    key: [String; 3],
    events: u64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    samples: Vec<Uuid>,
}

/// Groups `rows` (a query of `k1, k2, k3, id, usage_time`, one row per event and key, bound with
/// `params`) by key: most events first, at most `limit` groups, each with up to `samples` event
/// ids, newest first.
async fn event_groups(
    db: &impl sea_orm::ConnectionTrait,
    mut params: Params,
    rows: &str,
    limit: u64,
    samples: u64,
) -> Result<Vec<EventGroup>, StoreError> {
    let rows_params = params.len();
    let limit_at = params.bind(limit as i64);
    let sql = format!(
        "SELECT k1, k2, k3, CAST(COUNT(*) AS BIGINT) AS events, \
         MIN(usage_time) AS first_seen, MAX(usage_time) AS last_seen FROM ({rows}) grouped \
         GROUP BY k1, k2, k3 ORDER BY events DESC, k1, k2, k3 LIMIT {limit_at}"
    );
    let key = |row: &sea_orm::QueryResult| -> Result<[String; 3], StoreError> {
        Ok([
            row.try_get("", "k1")?,
            row.try_get("", "k2")?,
            row.try_get("", "k3")?,
        ])
    };
    let mut groups = Vec::new();
    for row in db.query_all_raw(params.statement(sql)).await? {
        groups.push(EventGroup {
            key: key(&row)?,
            events: count(&row, "events")?,
            first_seen: row.try_get("", "first_seen")?,
            last_seen: row.try_get("", "last_seen")?,
            samples: Vec::new(),
        });
    }
    if groups.is_empty() {
        return Ok(groups);
    }
    params.truncate(rows_params);
    let samples_at = params.bind(samples as i64);
    let sql = format!(
        "SELECT k1, k2, k3, id FROM (SELECT grouped.*, ROW_NUMBER() OVER \
         (PARTITION BY k1, k2, k3 ORDER BY usage_time DESC, id DESC) AS position \
         FROM ({rows}) grouped) ranked WHERE position <= {samples_at} \
         ORDER BY k1, k2, k3, position"
    );
    let mut by_group: HashMap<[String; 3], Vec<Uuid>> = HashMap::new();
    for row in db.query_all_raw(params.statement(sql)).await? {
        by_group
            .entry(key(&row)?)
            .or_default()
            .push(row.try_get("", "id")?);
    }
    for group in &mut groups {
        group.samples = by_group.remove(&group.key).unwrap_or_default();
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rollups::EVENT_SUMS;

    #[test]
    fn the_parked_counts_are_where_they_are_read() {
        assert_eq!(EVENT_SUMS[UNPRICED_SUM], "unpriced_events");
        assert_eq!(EVENT_SUMS[MISSING_VOLUME_SUM], "missing_volume_events");
    }
}
