//! Sums over the aggregates grouped by any dimensions (and by period when a series needs it), with
//! the reports' filters; signal quantities per price span. Each part of a window is read from the
//! coarsest table that can answer it (`rollups::plan`). The other inputs of the reports are in
//! `report_inputs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::{
    StoreError,
    rollups::{self, Level, Source},
    sql::{Params, sum_bigint},
};
use crate::domain::{
    grain::Grain,
    report::{Dimension, Filter, Window},
};

pub use super::rollups::{EVENT_SUMS, LINE_SUMS};

/// What to group and which rows to read.
#[derive(Clone, Copy, Debug)]
pub struct GroupQuery<'a> {
    pub project_id: Uuid,
    pub window: Window,
    /// The group key, in this order.
    pub dimensions: &'a [Dimension],
    /// Adds the start of each row's period to the key, periods no longer than this grain (a
    /// series by day may read daily rows, never monthly ones).
    pub period: Option<Grain>,
    pub filters: &'a [Filter],
}

impl GroupQuery<'_> {
    /// Every dimension grouped or filtered.
    fn used(&self) -> Vec<Dimension> {
        self.dimensions
            .iter()
            .copied()
            .chain(self.filters.iter().map(|filter| filter.dimension))
            .collect()
    }
}

/// One group of an aggregate: its key values, the start of its period when grouped by period (an
/// hour, day or month, whole within the window), and its sums in the order asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSums {
    pub key: Vec<String>,
    pub period: Option<DateTime<Utc>>,
    pub sums: Vec<i64>,
}

struct Sql {
    params: Params,
    key_columns: Vec<String>,
    wheres: Vec<String>,
}

impl Sql {
    /// The reads of one table over some parts of the window.
    fn new(
        db: &impl ConnectionTrait,
        query: &GroupQuery<'_>,
        source: &Source,
        parts: &[Window],
    ) -> Self {
        let mut params = Params::new(db.get_database_backend());
        let time = source.time_column;
        let ranges: Vec<String> = parts
            .iter()
            .map(|part| {
                format!(
                    "(t.{time} >= {} AND t.{time} < {})",
                    params.bind(part.start),
                    params.bind(part.end)
                )
            })
            .collect();
        let mut wheres = vec![
            format!("t.project_id = {}", params.bind(query.project_id)),
            format!("({})", ranges.join(" OR ")),
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
        if query.period.is_some() {
            key_columns.push(format!("t.{time}"));
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
        let backend = self.params.backend();
        select.extend(sums.iter().enumerate().map(|(index, sum)| {
            format!(
                "{} AS s{index}",
                sum_bigint(backend, &format!("{sum_of}{sum}"))
            )
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

/// Reads a row of [`Sql::select_list`] by position (keys, the period, then the sums), which is
/// far cheaper than by name over a thousand rows.
fn read_group(row: &QueryResult, query: &GroupQuery<'_>, sums: usize) -> Result<GroupSums, DbErr> {
    let keys = query.dimensions.len();
    let key = (0..keys)
        .map(|index| row.try_get_by_index::<String>(index))
        .collect::<Result<_, _>>()?;
    let (period, first_sum) = if query.period.is_some() {
        (Some(row.try_get_by_index(keys)?), keys + 1)
    } else {
        (None, keys)
    };
    let sums = (first_sum..first_sum + sums)
        .map(|index| row.try_get_by_index::<i64>(index))
        .collect::<Result<_, _>>()?;
    Ok(GroupSums { key, period, sums })
}

/// A group's key and period.
type GroupKey = (Vec<String>, Option<DateTime<Utc>>);

/// Adds rows of one group read from several tables into one.
fn merge(rows: impl IntoIterator<Item = GroupSums>) -> Vec<GroupSums> {
    let mut merged: BTreeMap<GroupKey, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let sums = merged.entry((row.key, row.period)).or_default();
        if sums.is_empty() {
            *sums = row.sums;
        } else {
            for (sum, more) in sums.iter_mut().zip(row.sums) {
                *sum += more;
            }
        }
    }
    merged
        .into_iter()
        .map(|((key, period), sums)| GroupSums { key, period, sums })
        .collect()
}

/// Sums of `level`'s figures per group, from the tables `rollups::plan` picks.
pub async fn groups(
    db: &impl ConnectionTrait,
    level: Level,
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    let sums = level.sums();
    let mut rows = Vec::new();
    for (source, parts) in rollups::plan(level, &query.used(), query.window, query.period) {
        let sql = Sql::new(db, query, source, &parts);
        let statement = format!(
            "SELECT {} FROM {} t WHERE {}{}",
            sql.select_list(sums, "t."),
            source.table,
            sql.wheres.join(" AND "),
            sql.group_by(&[]),
        );
        for row in db
            .query_all_raw(sql.params.into_statement(statement))
            .await?
        {
            rows.push(read_group(&row, query, sums.len())?);
        }
    }
    Ok(merge(rows))
}

/// Event-level sums ([`EVENT_SUMS`]) per group. Dimensions and filters must not be line-level.
pub async fn event_groups(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    groups(db, Level::Event, query).await
}

/// Line-level sums ([`LINE_SUMS`]) per group.
pub async fn line_groups(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
) -> Result<Vec<GroupSums>, StoreError> {
    groups(db, Level::Line, query).await
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
/// the rows of each span's plan and signal within the span, from the coarsest tables that fit it.
pub async fn span_quantities(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
    spans: &[PriceSpan],
) -> Result<Vec<(usize, GroupSums)>, StoreError> {
    let mut used = query.used();
    used.extend([Dimension::Plan, Dimension::Signal]);
    // Each table, with the parts of every span it answers.
    let mut by_source: Vec<(&'static Source, Vec<(usize, Window)>)> = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        let window = Window {
            start: span.from_hour,
            end: span.to_hour,
        };
        for (source, parts) in rollups::plan(Level::Event, &used, window, query.period) {
            let tagged = parts.into_iter().map(|part| (index, part));
            match by_source.iter_mut().find(|(known, _)| *known == source) {
                Some((_, all)) => all.extend(tagged),
                None => by_source.push((source, tagged.collect())),
            }
        }
    }
    let mut out = Vec::new();
    for (source, parts) in by_source {
        // A few hundred parts per statement keeps the parameters far under both databases' limits.
        for chunk in parts.chunks(500) {
            let mut sql = Sql::new(db, query, source, &[query.window]);
            let values: Vec<String> = chunk
                .iter()
                .map(|(index, part)| {
                    let span = &spans[*index];
                    format!(
                        "({}, {}, {}, {}, {})",
                        sql.params.bind(span.plan_name.clone()),
                        sql.params.bind(span.signal_name.clone()),
                        sql.params.bind(*index as i64),
                        sql.params.bind(part.start),
                        sql.params.bind(part.end),
                    )
                })
                .collect();
            let time = source.time_column;
            let statement = format!(
                "WITH p (plan_name, signal_name, span, from_time, to_time) AS (VALUES {}) \
                 SELECT {}, p.span AS span FROM {} t JOIN p ON t.plan_name = p.plan_name \
                 AND t.signal_name = p.signal_name AND t.{time} >= p.from_time \
                 AND t.{time} < p.to_time WHERE {}{}",
                values.join(", "),
                sql.select_list(&["quantity"], "t."),
                source.table,
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
    }
    Ok(out)
}
