//! `GetMargin`: revenue, cost and margin over a window, grouped by any dimensions, sorted and paged.
//!
//! Figures and tokens come from the event aggregates unless PROVIDER or MODEL is grouped or
//! filtered, then from the line aggregates (`store::rollups` picks the tables). Revenue is exact
//! until each row's figures
//! are rounded, once; the totals are rounded from the exact sum of every group, so they may differ
//! from the sum of the rounded rows by less than 1e-10 USD per row.

use std::cmp::Ordering;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use super::report_groups::MarginLine;
use super::report_groups::{Figures, groups};
use crate::{
    domain::{
        DomainError,
        page_token::{self, PageLimits},
        report::{Capabilities, Dimension, Filter, Window},
    },
    store::report_inputs,
};

/// Rows per page: 100 unless asked, at most 1000.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// Named customers a project may have for their names to be read beside the figures of a report
/// by customer (one round trip less); past it, the page's names are read after sorting.
const NAMES_READ_AHEAD: usize = 2_000;

/// Sort key of the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MarginOrder {
    #[default]
    Group,
    Revenue,
    Cost,
    Margin,
    MarginPercent,
    CostPercentOfRevenue,
    EventCount,
}

/// A checked `GetMargin` request.
#[derive(Clone, Debug)]
pub struct MarginQuery {
    pub window: Window,
    pub group_by: Vec<Dimension>,
    pub filters: Vec<Filter>,
    pub order: MarginOrder,
    pub descending: bool,
    pub page_size: i32,
    pub page_token: String,
}

impl MarginQuery {
    /// Everything a page token is bound to (all but the page size and token).
    fn fingerprint(&self) -> String {
        format!(
            "margin|{:?}|{:?}|{:?}|{:?}|{}",
            self.window, self.group_by, self.filters, self.order, self.descending
        )
    }

    /// Every dimension grouped or filtered.
    fn used(&self) -> Vec<Dimension> {
        self.group_by
            .iter()
            .copied()
            .chain(self.filters.iter().map(|filter| filter.dimension))
            .collect()
    }
}

/// A page of the report.
#[derive(Clone, Debug)]
pub struct MarginReport {
    pub capabilities: Capabilities,
    pub revenue_note: String,
    pub rows: Vec<MarginLine>,
    pub totals: MarginLine,
    /// Display names of the customers of the rows.
    pub display_names: std::collections::HashMap<String, String>,
    pub next_page_token: String,
}

/// The value a row sorts by; `None` sorts last.
fn sort_value(line: &MarginLine, order: MarginOrder) -> Option<rust_decimal::Decimal> {
    use rust_decimal::Decimal;
    match order {
        MarginOrder::Group => None,
        MarginOrder::Revenue => line.revenue_e10.map(Decimal::from),
        MarginOrder::Cost => Some(Decimal::from(line.cost_e10)),
        MarginOrder::Margin => line.margin_e10.map(Decimal::from),
        MarginOrder::MarginPercent => line.margin_percent,
        MarginOrder::CostPercentOfRevenue => line.cost_percent,
        MarginOrder::EventCount => Some(Decimal::from(line.events)),
    }
}

/// Orders rows by `order` (empty values last in either direction), ties by the group values.
pub fn sort(rows: &mut [MarginLine], order: MarginOrder, descending: bool) {
    rows.sort_by(|a, b| {
        let by_value = match (sort_value(a, order), sort_value(b, order)) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let by_group = if descending && order == MarginOrder::Group {
            b.key.cmp(&a.key)
        } else {
            a.key.cmp(&b.key)
        };
        by_value.then(by_group)
    });
}

/// Answers a `GetMargin` request.
pub async fn get_margin(
    db: &DatabaseConnection,
    project_id: Uuid,
    query: MarginQuery,
) -> Result<MarginReport, DomainError> {
    let fingerprint = query.fingerprint();
    let offset = match page_token::decode(&query.page_token, &fingerprint)
        .map_err(|violation| DomainError::Invalid(vec![violation]))?
    {
        None => 0,
        Some(cursor) => cursor.parse::<usize>().map_err(|_| {
            DomainError::Invalid(vec![crate::domain::FieldViolation::new(
                "page_token",
                "not a page token of this report",
            )])
        })?,
    };
    let used = query.used();
    let caps = Capabilities::of(used.iter().copied());
    let customer_at = query
        .group_by
        .iter()
        .position(|dimension| *dimension == Dimension::Customer);
    // Names are read beside the figures when the page may hold any of the project's customers.
    let read_names_ahead = customer_at.is_some()
        && !query
            .filters
            .iter()
            .any(|filter| filter.dimension == Dimension::Customer);
    let (groups, names) = tokio::try_join!(
        groups(
            db,
            project_id,
            query.window,
            &query.group_by,
            &query.filters,
            caps,
        ),
        async {
            if read_names_ahead {
                Ok(report_inputs::named_customers(db, project_id, NAMES_READ_AHEAD).await?)
            } else {
                Ok(None)
            }
        },
    )?;
    let mut total = Figures::default();
    let mut rows = Vec::with_capacity(groups.len());
    for (key, figures) in groups {
        total.add(&figures)?;
        rows.push(MarginLine::of(key, &figures, caps)?);
    }
    sort(&mut rows, query.order, query.descending);
    let size = PAGE_LIMITS.size(query.page_size) as usize;
    let end = offset.saturating_add(size).min(rows.len());
    let next_page_token = if end < rows.len() {
        page_token::encode(&end.to_string(), &fingerprint)
    } else {
        String::new()
    };
    let page: Vec<MarginLine> = rows.into_iter().skip(offset).take(size).collect();
    let display_names = match (customer_at, names) {
        (Some(at), Some(mut names)) => page
            .iter()
            .filter_map(|row| names.remove_entry(&row.key[at]))
            .collect(),
        (Some(at), None) => {
            let ids: Vec<String> = page.iter().map(|row| row.key[at].clone()).collect();
            report_inputs::display_names(db, project_id, &ids).await?
        }
        (None, _) => Default::default(),
    };
    Ok(MarginReport {
        capabilities: caps,
        revenue_note: caps.revenue_note(&used),
        rows: page,
        totals: MarginLine::of(Vec::new(), &total, caps)?,
        display_names,
        next_page_token,
    })
}
