//! Reads of the reports: sums over the hourly aggregates grouped by any dimensions (and by hour
//! when a series needs it), plan periods, signal prices, and the few raw events of hours in which a
//! signal price changes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::{StoreError, sql::Params};
use crate::domain::report::{Dimension, Filter, Window};

/// What to group and which rows to read.
#[derive(Clone, Copy, Debug)]
pub struct GroupQuery<'a> {
    pub project_id: Uuid,
    pub window: Window,
    /// The group key, in this order.
    pub dimensions: &'a [Dimension],
    /// Adds the hour to the key.
    pub by_hour: bool,
    pub filters: &'a [Filter],
}

/// One group of an aggregate: its key values, its hour when grouped by hour, and its sums in the
/// order asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSums {
    pub key: Vec<String>,
    pub hour: Option<DateTime<Utc>>,
    pub sums: Vec<i64>,
}

/// Figures of `event_hourly`, in the order of [`event_groups`]'s sums.
pub const EVENT_SUMS: [&str; 5] = [
    "events",
    "cost_e10",
    "unpriced_events",
    "runs_started",
    "quantity",
];

/// Figures of `line_hourly`, in the order of [`line_groups`]'s sums.
pub const LINE_SUMS: [&str; 8] = [
    "events",
    "cost_e10",
    "unpriced_lines",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

struct Sql {
    params: Params,
    key_columns: Vec<String>,
    wheres: Vec<String>,
}

impl Sql {
    fn new(db: &impl ConnectionTrait, query: &GroupQuery<'_>) -> Self {
        let mut params = Params::new(db.get_database_backend());
        let mut wheres = vec![
            format!("t.project_id = {}", params.bind(query.project_id)),
            format!("t.hour_start >= {}", params.bind(query.window.start)),
            format!("t.hour_start < {}", params.bind(query.window.end)),
        ];
        for filter in query.filters {
            let placeholders: Vec<String> = filter
                .values
                .iter()
                .map(|value| params.bind(value.clone()))
                .collect();
            wheres.push(format!(
                "t.{} IN ({})",
                filter.dimension.column(),
                placeholders.join(", ")
            ));
        }
        let mut key_columns: Vec<String> = query
            .dimensions
            .iter()
            .map(|dimension| format!("t.{}", dimension.column()))
            .collect();
        if query.by_hour {
            key_columns.push("t.hour_start".to_owned());
        }
        Self {
            params,
            key_columns,
            wheres,
        }
    }

    fn select_list(&self, sums: &[&str], sum_of: &str) -> String {
        let mut select: Vec<String> = self
            .key_columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} AS k{index}"))
            .collect();
        select.extend(sums.iter().enumerate().map(|(index, sum)| {
            format!("CAST(COALESCE(SUM({sum_of}{sum}), 0) AS BIGINT) AS s{index}")
        }));
        select.join(", ")
    }

    fn group_by(&self, extra: &[&str]) -> String {
        let columns: Vec<String> = self
            .key_columns
            .iter()
            .cloned()
            .chain(extra.iter().map(|column| (*column).to_owned()))
            .collect();
        if columns.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", columns.join(", "))
        }
    }
}

fn read_group(row: &QueryResult, query: &GroupQuery<'_>, sums: usize) -> Result<GroupSums, DbErr> {
    let key = (0..query.dimensions.len())
        .map(|index| row.try_get::<String>("", &format!("k{index}")))
        .collect::<Result<_, _>>()?;
    let hour = if query.by_hour {
        Some(row.try_get("", &format!("k{}", query.dimensions.len()))?)
    } else {
        None
    };
    let sums = (0..sums)
        .map(|index| row.try_get::<i64>("", &format!("s{index}")))
        .collect::<Result<_, _>>()?;
    Ok(GroupSums { key, hour, sums })
}

async fn grouped(
    db: &impl ConnectionTrait,
    table: &str,
    sums: &[&str],
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    let sql = Sql::new(db, query);
    let statement = format!(
        "SELECT {} FROM {table} t WHERE {}{}",
        sql.select_list(sums, "t."),
        sql.wheres.join(" AND "),
        sql.group_by(&[]),
    );
    let rows = db.query_all_raw(sql.params.statement(statement)).await?;
    rows.iter()
        .map(|row| read_group(row, query, sums.len()))
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// Sums of `event_hourly` ([`EVENT_SUMS`]) per group. Dimensions and filters must not be
/// line-level.
pub async fn event_groups(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    grouped(db, "event_hourly", &EVENT_SUMS, query).await
}

/// Sums of `line_hourly` ([`LINE_SUMS`]) per group.
pub async fn line_groups(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    grouped(db, "line_hourly", &LINE_SUMS, query).await
}

/// A span of whole hours in which one signal price of a plan is in force throughout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceSpan {
    pub plan_name: String,
    pub signal_name: String,
    pub from_hour: DateTime<Utc>,
    pub to_hour: DateTime<Utc>,
}

/// Signal quantity per group and price span (`sums[0]`, with the span's index appended to the key):
/// the hourly rows of each span's plan and signal within the span.
pub async fn span_quantities(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
    spans: &[PriceSpan],
) -> Result<Vec<(usize, GroupSums)>, StoreError> {
    let mut out = Vec::new();
    // A few hundred spans per statement keeps the parameters far under both databases' limits.
    for (chunk_index, chunk) in spans.chunks(500).enumerate() {
        let mut sql = Sql::new(db, query);
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(index, span)| {
                format!(
                    "({}, {}, {}, {}, {})",
                    sql.params.bind(span.plan_name.clone()),
                    sql.params.bind(span.signal_name.clone()),
                    sql.params.bind((chunk_index * 500 + index) as i64),
                    sql.params.bind(span.from_hour),
                    sql.params.bind(span.to_hour),
                )
            })
            .collect();
        let statement = format!(
            "WITH p (plan_name, signal_name, span, from_hour, to_hour) AS (VALUES {}) \
             SELECT {}, p.span AS span FROM event_hourly t JOIN p ON t.plan_name = p.plan_name \
             AND t.signal_name = p.signal_name AND t.hour_start >= p.from_hour \
             AND t.hour_start < p.to_hour WHERE {}{}",
            values.join(", "),
            sql.select_list(&["quantity"], "t."),
            sql.wheres.join(" AND "),
            sql.group_by(&["p.span"]),
        );
        let rows = db.query_all_raw(sql.params.statement(statement)).await?;
        for row in &rows {
            let span: i64 = row.try_get("", "span")?;
            let group = read_group(row, query, 1)?;
            out.push((usize::try_from(span).unwrap_or(usize::MAX), group));
        }
    }
    Ok(out)
}

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

/// Every plan period of the project's customers (only of `customer_ids` when given), by customer
/// and start time.
pub async fn plan_periods(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ids: Option<&[String]>,
) -> Result<Vec<PeriodRow>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let mut statement = format!(
        "SELECT c.customer_id, p.plan_name, p.monthly_usd_e10, p.start_time \
         FROM customer_plan_periods p JOIN customers c ON c.id = p.customer_ref \
         WHERE p.project_id = {}",
        params.bind(project_id)
    );
    if let Some(ids) = customer_ids {
        let placeholders: Vec<String> = ids.iter().map(|id| params.bind(id.clone())).collect();
        statement.push_str(&format!(
            " AND c.customer_id IN ({})",
            placeholders.join(", ")
        ));
    }
    statement.push_str(" ORDER BY c.customer_id, p.start_time");
    let rows = db.query_all_raw(params.statement(statement)).await?;
    rows.iter()
        .map(|row| {
            Ok(PeriodRow {
                customer_id: row.try_get("", "customer_id")?,
                plan_name: row.try_get("", "plan_name")?,
                monthly_e10: row.try_get("", "monthly_usd_e10")?,
                start_time: row.try_get("", "start_time")?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// Display names of the project's customers (empty when none), by customer id.
pub async fn display_names(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ids: &[String],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let mut names = std::collections::HashMap::new();
    for chunk in customer_ids.chunks(1_000) {
        let mut params = Params::new(db.get_database_backend());
        let project = params.bind(project_id);
        let placeholders: Vec<String> = chunk.iter().map(|id| params.bind(id.clone())).collect();
        let statement = format!(
            "SELECT customer_id, COALESCE(display_name, '') AS display_name FROM customers \
             WHERE project_id = {project} AND customer_id IN ({})",
            placeholders.join(", ")
        );
        for row in db.query_all_raw(params.statement(statement)).await? {
            names.insert(
                row.try_get("", "customer_id")?,
                row.try_get("", "display_name")?,
            );
        }
    }
    Ok(names)
}
