//! What reports read besides the hourly sums: the events of hours in which a signal price changes
//! mid-hour, signal prices, plan periods and customers' display names.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::{StoreError, sql::Params};
use crate::domain::report::Dimension;

/// An event's attribution, time and quantity, for usage revenue of an hour in which a price changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventUsage {
    pub customer_id: String,
    pub plan_name: String,
    pub agent_code: String,
    pub signal_name: String,
    pub user_id: String,
    pub usage_time: DateTime<Utc>,
    pub quantity: i64,
}

impl EventUsage {
    /// The event's value of an event-level dimension.
    pub fn value(&self, dimension: Dimension) -> &str {
        match dimension {
            Dimension::Customer => &self.customer_id,
            Dimension::Plan => &self.plan_name,
            Dimension::Agent => &self.agent_code,
            Dimension::Signal => &self.signal_name,
            Dimension::User => &self.user_id,
            Dimension::Provider | Dimension::Model => "",
        }
    }
}

/// The events with a signal whose `usage_time` falls in one of the given hours.
pub async fn events_in_hours(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    hours: &[DateTime<Utc>],
) -> Result<Vec<EventUsage>, StoreError> {
    let mut out = Vec::new();
    for chunk in hours.chunks(500) {
        let mut params = Params::new(db.get_database_backend());
        let project = params.bind(project_id);
        let spans: Vec<String> = chunk
            .iter()
            .map(|hour| {
                format!(
                    "(e.usage_time >= {} AND e.usage_time < {})",
                    params.bind(*hour),
                    params.bind(*hour + chrono::Duration::hours(1))
                )
            })
            .collect();
        let statement = format!(
            "SELECT c.customer_id, COALESCE(e.plan_name, '') AS plan_name, a.agent_code, \
             s.signal_name, COALESCE(e.user_id, '') AS user_id, e.usage_time, e.quantity \
             FROM cost_events e JOIN customers c ON c.id = e.customer_ref \
             JOIN agents a ON a.id = e.agent_ref JOIN signals s ON s.id = e.signal_ref \
             WHERE e.project_id = {project} AND ({})",
            spans.join(" OR ")
        );
        for row in db.query_all_raw(params.statement(statement)).await? {
            out.push(EventUsage {
                customer_id: row.try_get("", "customer_id")?,
                plan_name: row.try_get("", "plan_name")?,
                agent_code: row.try_get("", "agent_code")?,
                signal_name: row.try_get("", "signal_name")?,
                user_id: row.try_get("", "user_id")?,
                usage_time: row.try_get("", "usage_time")?,
                quantity: row.try_get("", "quantity")?,
            });
        }
    }
    Ok(out)
}

/// A signal price as reports use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalPriceRow {
    pub plan_name: String,
    pub signal_name: String,
    pub unit_price: Decimal,
    pub effective_time: DateTime<Utc>,
}

/// Every signal price of the project, by plan, signal and effective time.
pub async fn signal_prices(
    db: &impl ConnectionTrait,
    project_id: Uuid,
) -> Result<Vec<SignalPriceRow>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let statement = format!(
        "SELECT p.plan_name, s.signal_name, p.unit_price_usd, p.effective_time \
         FROM signal_prices p JOIN signals s ON s.id = p.signal_ref \
         WHERE p.project_id = {} ORDER BY p.plan_name, s.signal_name, p.effective_time",
        params.bind(project_id)
    );
    let rows = db.query_all_raw(params.statement(statement)).await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("", "unit_price_usd")?;
            Ok(SignalPriceRow {
                plan_name: row.try_get("", "plan_name")?,
                signal_name: row.try_get("", "signal_name")?,
                unit_price: text
                    .parse()
                    .map_err(|_| DbErr::Type(format!("signal price: bad unit price {text:?}")))?,
                effective_time: row.try_get("", "effective_time")?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// A plan period of a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodRow {
    pub customer_id: String,
    pub plan_name: String,
    pub monthly_e10: i64,
    pub start_time: DateTime<Utc>,
}

/// The plan periods of the project's customers (only of `customer_ids` when given) that start
/// before `before`, by customer and start time, without a period that repeats the plan and fee of
/// the one before it: it changes nothing. Writers delete such periods, but two writers at once (or
/// a database written before they did) may leave one.
pub async fn plan_periods(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ids: Option<&[String]>,
    before: DateTime<Utc>,
) -> Result<Vec<PeriodRow>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let mut filter = format!(
        "p.project_id = {} AND p.start_time < {}",
        params.bind(project_id),
        params.bind(before)
    );
    if let Some(ids) = customer_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        filter.push_str(&format!(
            " AND c.customer_id {}",
            params.in_texts(ids.to_vec())
        ));
    }
    // No ORDER BY and no window over the periods: sorting and leaving out repeats here is far
    // cheaper than in the database, which would sort the ids by its collation for no use.
    let statement = format!(
        "SELECT c.customer_id, p.plan_name, p.monthly_usd_e10, p.start_time \
         FROM customer_plan_periods p JOIN customers c ON c.id = p.customer_ref WHERE {filter}"
    );
    let rows = db.query_all_raw(params.statement(statement)).await?;
    let mut periods = rows
        .iter()
        .map(|row| {
            Ok(PeriodRow {
                customer_id: row.try_get_by_index(0)?,
                plan_name: row.try_get_by_index(1)?,
                monthly_e10: row.try_get_by_index(2)?,
                start_time: row.try_get_by_index(3)?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    periods.sort_unstable_by(|a, b| {
        (&a.customer_id, a.start_time).cmp(&(&b.customer_id, b.start_time))
    });
    periods.dedup_by(|later, earlier| {
        later.customer_id == earlier.customer_id
            && later.plan_name == earlier.plan_name
            && later.monthly_e10 == earlier.monthly_e10
    });
    Ok(periods)
}

/// Display names of the project's customers (empty when none), by customer id.
pub async fn display_names(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let mut names = HashMap::new();
    for chunk in customer_ids.chunks(1_000) {
        let mut params = Params::new(db.get_database_backend());
        let project = params.bind(project_id);
        let ids = params.in_texts(chunk.to_vec());
        let statement = format!(
            "SELECT customer_id, COALESCE(display_name, '') AS display_name FROM customers \
             WHERE project_id = {project} AND customer_id {ids}"
        );
        for row in db.query_all_raw(params.statement(statement)).await? {
            names.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        }
    }
    Ok(names)
}

/// The display names of the project's customers when it names at most `limit` of them (`None`
/// otherwise), read beside a report's figures so that its page of customers needs no round trip of
/// its own once the rows are sorted. Customers without a display name are left out.
pub async fn named_customers(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    limit: usize,
) -> Result<Option<HashMap<String, String>>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let project = params.bind(project_id);
    let over = params.bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1));
    let statement = format!(
        "SELECT customer_id, display_name FROM customers \
         WHERE project_id = {project} AND display_name IS NOT NULL LIMIT {over}"
    );
    let rows = db.query_all_raw(params.statement(statement)).await?;
    if rows.len() > limit {
        return Ok(None);
    }
    let mut names = HashMap::with_capacity(rows.len());
    for row in rows {
        names.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    Ok(Some(names))
}
