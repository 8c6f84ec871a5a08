//! `Reports.GetCostSeries` on the wire.

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::timestamp,
    margin::{dimension, dimension_value, filters, usd, window},
    status::tenant,
};
use crate::{
    domain::{DomainError, Violations, money::Usd},
    pb,
    service::cost_series::{self as service, Granularity, SeriesQuery},
};

/// Split values with a series of their own: 10 unless asked, at most 100.
const MAX_SERIES: (usize, usize) = (10, 100);

fn series_query(request: pb::GetCostSeriesRequest) -> Result<SeriesQuery, DomainError> {
    let pb::GetCostSeriesRequest {
        start_time,
        end_time,
        granularity,
        split_by,
        filters: raw_filters,
        max_series,
    } = request;
    let mut violations = Violations::default();
    let window = window(start_time, end_time, &mut violations);
    use pb::TimeGranularity as G;
    let granularity = match G::try_from(granularity) {
        Ok(G::Hour) => Some(Granularity::Hour),
        Ok(G::Day) => Some(Granularity::Day),
        Ok(G::Month) => Some(Granularity::Month),
        Ok(G::Unspecified) | Err(_) => {
            violations.add("granularity", "required: HOUR, DAY or MONTH");
            None
        }
    };
    let split = dimension(split_by);
    if split.is_none() && split_by != pb::ReportDimension::Unspecified as i32 {
        violations.add("split_by", "not a ReportDimension value");
    }
    let filters = filters(raw_filters, &mut violations);
    if max_series < 0 {
        violations.add("max_series", "must not be negative");
    }
    violations.into_result()?;
    let (Some(window), Some(granularity)) = (window, granularity) else {
        return Err(DomainError::Invalid(Vec::new()));
    };
    let max_series = match usize::try_from(max_series).unwrap_or(0) {
        0 => MAX_SERIES.0,
        asked => asked.min(MAX_SERIES.1),
    };
    Ok(SeriesQuery {
        window,
        granularity,
        split_by: split,
        filters,
        max_series,
    })
}

/// Answers `GetCostSeries`.
pub async fn get_cost_series(
    db: &DatabaseConnection,
    request: Request<pb::GetCostSeriesRequest>,
) -> Result<Response<pb::GetCostSeriesResponse>, Status> {
    let tenant = tenant(&request)?;
    let query = series_query(request.into_inner())?;
    let split_by = query.split_by;
    let report = service::cost_series(db, tenant.project_id, query).await?;
    let revenue = report.capabilities.revenue;
    let mut series = Vec::with_capacity(report.series.len());
    for one in &report.series {
        let mut buckets = Vec::with_capacity(report.buckets.len());
        for (bucket, figures) in report.buckets.iter().zip(&one.buckets) {
            let revenue_e10 = if revenue {
                Some(
                    figures
                        .revenue
                        .total_e10()
                        .map_err(|error| DomainError::Internal(Box::new(error)))?,
                )
            } else {
                None
            };
            buckets.push(pb::CostBucket {
                start_time: Some(timestamp(bucket.start)),
                end_time: Some(timestamp(bucket.end)),
                cost_usd: Usd::from_e10(figures.cost_e10).to_string(),
                revenue_usd: usd(revenue_e10),
                event_count: u64::try_from(figures.events).unwrap_or(0),
                unpriced_event_count: u64::try_from(figures.unpriced).unwrap_or(0),
            });
        }
        series.push(pb::CostSeries {
            split: split_by
                .zip(one.split.as_deref())
                .map(|(dimension, value)| dimension_value(dimension, value, &report.display_names)),
            other: one.other,
            buckets,
        });
    }
    Ok(Response::new(pb::GetCostSeriesResponse {
        series,
        revenue_available: revenue,
        revenue_note: report.revenue_note,
    }))
}
