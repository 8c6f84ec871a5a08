//! What needs a person: counts of parked events, from the hourly aggregates or from the events, and
//! the events missing volume grouped by agent, provider and model.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{StoreError, sql::Params};

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
    if let Some(start) = window.0 {
        scope.push_str(&format!(" AND e.usage_time >= {}", params.bind(start)));
    }
    if let Some(end) = window.1 {
        scope.push_str(&format!(" AND e.usage_time < {}", params.bind(end)));
    }
    // One row per event and group, however many of its lines miss volume.
    let parked = format!(
        "SELECT DISTINCT a.agent_code, l.provider, l.model, e.id, e.usage_time \
         FROM cost_events e JOIN service_lines l ON l.event_ref = e.id \
         JOIN agents a ON a.id = e.agent_ref WHERE {scope}"
    );
    let window_params = params.len();
    let limit_at = params.bind(limit as i64);
    let sql = format!(
        "SELECT agent_code, provider, model, CAST(COUNT(*) AS BIGINT) AS events, \
         MIN(usage_time) AS first_seen, MAX(usage_time) AS last_seen FROM ({parked}) parked \
         GROUP BY agent_code, provider, model \
         ORDER BY events DESC, agent_code, provider, model LIMIT {limit_at}"
    );
    let mut groups = Vec::new();
    for row in db.query_all_raw(params.statement(sql)).await? {
        groups.push(MissingVolumeGroup {
            agent_code: row.try_get("", "agent_code")?,
            provider: row.try_get("", "provider")?,
            model: row.try_get("", "model")?,
            events: count(&row, "events")?,
            first_seen: row.try_get("", "first_seen")?,
            last_seen: row.try_get("", "last_seen")?,
            samples: Vec::new(),
        });
    }
    if groups.is_empty() {
        return Ok(groups);
    }
    params.truncate(window_params);
    let samples_at = params.bind(samples as i64);
    let sql = format!(
        "SELECT agent_code, provider, model, id FROM (SELECT parked.*, ROW_NUMBER() OVER \
         (PARTITION BY agent_code, provider, model ORDER BY usage_time DESC, id DESC) AS position \
         FROM ({parked}) parked) ranked WHERE position <= {samples_at} \
         ORDER BY agent_code, provider, model, position"
    );
    let mut by_group: HashMap<(String, String, String), Vec<Uuid>> = HashMap::new();
    for row in db.query_all_raw(params.statement(sql)).await? {
        by_group
            .entry((
                row.try_get("", "agent_code")?,
                row.try_get("", "provider")?,
                row.try_get("", "model")?,
            ))
            .or_default()
            .push(row.try_get("", "id")?);
    }
    for group in &mut groups {
        let key = (
            group.agent_code.clone(),
            group.provider.clone(),
            group.model.clone(),
        );
        group.samples = by_group.remove(&key).unwrap_or_default();
    }
    Ok(groups)
}
