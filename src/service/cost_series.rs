//! `GetCostSeries`: cost, revenue and events per calendar hour, day or month (UTC) of a window,
//! optionally split by one dimension, the most expensive split values with a series each and the
//! rest summed in an `other` series. Every bucket is present, empty ones included.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report_revenue::{plan_revenue, usage_revenue};
use crate::{
    domain::{
        DomainError, FieldViolation,
        report::{Capabilities, Dimension, Filter, Window, floor_hour, next_month},
        revenue::ExactRevenue,
    },
    store::{
        report_inputs,
        report_reads::{self, GroupQuery},
    },
};

/// Most buckets a series may have.
pub const MAX_BUCKETS: usize = 10_000;

/// Width of a bucket: an hour, a day or a calendar month (UTC).
pub use crate::domain::grain::Grain as Granularity;

/// A checked `GetCostSeries` request.
#[derive(Clone, Debug)]
pub struct SeriesQuery {
    pub window: Window,
    pub granularity: Granularity,
    pub split_by: Option<Dimension>,
    pub filters: Vec<Filter>,
    /// Already defaulted and capped.
    pub max_series: usize,
}

/// The buckets of `window`: calendar hours, days or months, the first and last cut to the window.
/// `None` when there would be more than [`MAX_BUCKETS`].
pub fn buckets(window: Window, granularity: Granularity) -> Option<Vec<Window>> {
    let mut out = Vec::new();
    let mut start = window.start;
    while start < window.end {
        let next = match granularity {
            Granularity::Hour => floor_hour(start) + Duration::hours(1),
            Granularity::Day => {
                start.date_naive().and_hms_opt(0, 0, 0)?.and_utc() + Duration::days(1)
            }
            Granularity::Month => next_month(start),
        };
        let end = next.min(window.end);
        out.push(Window { start, end });
        if out.len() > MAX_BUCKETS {
            return None;
        }
        start = end;
    }
    Some(out)
}

/// Figures of one bucket before rounding.
#[derive(Clone, Debug, Default)]
pub struct BucketFigures {
    pub cost_e10: i64,
    pub events: i64,
    pub unpriced: i64,
    pub revenue: ExactRevenue,
}

/// One series: its split value (`None` unsplit or for `other`) and one figure per bucket.
#[derive(Clone, Debug)]
pub struct Series {
    pub split: Option<String>,
    pub other: bool,
    pub buckets: Vec<BucketFigures>,
}

/// The answer.
#[derive(Clone, Debug)]
pub struct CostSeriesReport {
    pub capabilities: Capabilities,
    pub revenue_note: String,
    pub buckets: Vec<Window>,
    pub series: Vec<Series>,
    pub display_names: HashMap<String, String>,
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::Internal(Box::new(error))
}

/// Answers a `GetCostSeries` request.
pub async fn cost_series(
    db: &DatabaseConnection,
    project_id: Uuid,
    query: SeriesQuery,
) -> Result<CostSeriesReport, DomainError> {
    let buckets = buckets(query.window, query.granularity).ok_or_else(|| {
        DomainError::Invalid(vec![FieldViolation::new(
            "end_time",
            format!("the window holds more than {MAX_BUCKETS} buckets of this granularity"),
        )])
    })?;
    let dimensions: Vec<Dimension> = query.split_by.into_iter().collect();
    let used: Vec<Dimension> = dimensions
        .iter()
        .copied()
        .chain(query.filters.iter().map(|filter| filter.dimension))
        .collect();
    let caps = Capabilities::of(used.iter().copied());
    let group = GroupQuery {
        project_id,
        window: query.window,
        dimensions: &dimensions,
        period: Some(query.granularity),
        filters: &query.filters,
    };
    let bucket_of = |hour: DateTime<Utc>| {
        buckets
            .partition_point(|bucket| bucket.end <= hour)
            .min(buckets.len() - 1)
    };
    let mut series: BTreeMap<Vec<String>, Vec<BucketFigures>> = BTreeMap::new();
    let empty = || vec![BucketFigures::default(); buckets.len()];
    let rows = async {
        Ok(if caps.line_level {
            report_reads::line_groups(db, &group).await?
        } else {
            report_reads::event_groups(db, &group).await?
        })
    };
    // Revenue is read beside the figures, each on its own connection of the pool.
    let revenue = async {
        if !caps.revenue {
            return Ok((HashMap::new(), HashMap::new()));
        }
        tokio::try_join!(
            usage_revenue(db, &group),
            plan_revenue(db, project_id, &dimensions, &query.filters, &buckets),
        )
    };
    let (rows, (usage, plans)) = tokio::try_join!(rows, revenue)?;
    for row in rows {
        let Some(hour) = row.period else { continue };
        // Events, cost, and events (lines) of unknown cost: no price, or no volume.
        let unpriced = row.sums[2] + row.sums[3];
        if row.sums[0] == 0 && row.sums[1] == 0 && unpriced == 0 {
            continue;
        }
        let figures = &mut series.entry(row.key).or_insert_with(empty)[bucket_of(hour)];
        figures.events += row.sums[0];
        figures.cost_e10 += row.sums[1];
        figures.unpriced += unpriced;
    }
    for ((key, hour), usage) in usage {
        let Some(hour) = hour else { continue };
        series.entry(key).or_insert_with(empty)[bucket_of(hour)]
            .revenue
            .add(usage)
            .map_err(internal)?;
    }
    for ((key, index), plan) in plans {
        series.entry(key).or_insert_with(empty)[index]
            .revenue
            .add(plan)
            .map_err(internal)?;
    }
    let mut ranked: Vec<(Vec<String>, Vec<BucketFigures>)> = series.into_iter().collect();
    let cost = |figures: &[BucketFigures]| figures.iter().map(|f| f.cost_e10).sum::<i64>();
    ranked.sort_by(|a, b| cost(&b.1).cmp(&cost(&a.1)).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    if query.split_by.is_none() {
        let buckets_figures = ranked.pop().map_or_else(empty, |(_, figures)| figures);
        out.push(Series {
            split: None,
            other: false,
            buckets: buckets_figures,
        });
    } else {
        let rest = ranked.split_off(query.max_series.min(ranked.len()));
        for (key, figures) in ranked {
            out.push(Series {
                split: key.into_iter().next(),
                other: false,
                buckets: figures,
            });
        }
        if !rest.is_empty() {
            let mut other = empty();
            for (_, figures) in rest {
                for (sum, more) in other.iter_mut().zip(figures) {
                    sum.cost_e10 += more.cost_e10;
                    sum.events += more.events;
                    sum.unpriced += more.unpriced;
                    sum.revenue.add(more.revenue).map_err(internal)?;
                }
            }
            out.push(Series {
                split: None,
                other: true,
                buckets: other,
            });
        }
    }
    let display_names = if query.split_by == Some(Dimension::Customer) {
        let ids: Vec<String> = out.iter().filter_map(|s| s.split.clone()).collect();
        report_inputs::display_names(db, project_id, &ids).await?
    } else {
        HashMap::new()
    };
    Ok(CostSeriesReport {
        capabilities: caps,
        revenue_note: caps.revenue_note(&used),
        buckets,
        series: out,
        display_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn buckets_are_calendar_units_cut_to_the_window() {
        let window = Window {
            start: at("2026-11-30T22:00:00Z"),
            end: at("2027-01-02T03:00:00Z"),
        };
        let months = buckets(window, Granularity::Month).unwrap();
        let starts: Vec<_> = months.iter().map(|b| b.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-11-30T22:00:00+00:00",
                "2026-12-01T00:00:00+00:00",
                "2027-01-01T00:00:00+00:00"
            ]
        );
        assert_eq!(months[2].end, window.end);
        let days = buckets(window, Granularity::Day).unwrap();
        assert_eq!(days.len(), 34);
        assert_eq!(days[0].end, at("2026-12-01T00:00:00Z"));
        let hours = buckets(window, Granularity::Hour).unwrap();
        assert_eq!(hours.len(), 24 * 32 + 5);
        let long = Window {
            start: at("2026-01-01T00:00:00Z"),
            end: at("2027-03-01T00:00:00Z"),
        };
        assert!(buckets(long, Granularity::Hour).is_none());
        assert!(buckets(long, Granularity::Day).is_some());
    }
}
