//! Sums over the hourly aggregates grouped by any dimensions (and by hour when a series needs it),
//! with the reports' filters; signal quantities per price span. The other inputs of the reports are
//! in `report_inputs`.

use chrono::{DateTime, Utc};
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
