//! `GetMargin`: revenue, cost and margin over a window, grouped by any dimensions, sorted and paged.
//!
//! Event figures come from `event_hourly` unless PROVIDER or MODEL is grouped or filtered, then
//! from `line_hourly`; tokens always from `line_hourly`. Revenue is exact until each row's figures
//! are rounded, once; the totals are rounded from the exact sum of every group, so they may differ
//! from the sum of the rounded rows by less than 1e-10 USD per row.

use std::{cmp::Ordering, collections::BTreeMap};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report_revenue::{plan_revenue, usage_revenue};
use crate::{
    domain::{
        DomainError,
        ledger::Tokens,
        page_token::{self, PageLimits},
        report::{Capabilities, Dimension, Filter, Window, percent},
        revenue::ExactRevenue,
    },
    store::report_reads::{self, GroupQuery},
};

/// Rows per page: 100 unless asked, at most 1000.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

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

/// Sums of one group before rounding.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub events: i64,
    pub runs: i64,
    pub unpriced: i64,
    pub cost_e10: i64,
    pub tokens: Tokens,
    pub plan: ExactRevenue,
    pub usage: ExactRevenue,
    /// Whether the group has plan periods in the window (a row even without events).
    pub has_plan: bool,
}

impl Figures {
    fn add(&mut self, other: &Figures) -> Result<(), DomainError> {
        self.events += other.events;
        self.runs += other.runs;
        self.unpriced += other.unpriced;
        self.cost_e10 += other.cost_e10;
        add_tokens(&mut self.tokens, other.tokens);
        self.plan.add(other.plan).map_err(internal)?;
        self.usage.add(other.usage).map_err(internal)?;
        self.has_plan |= other.has_plan;
        Ok(())
    }
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::Internal(Box::new(error))
}

/// One row as shown: rounded money in 1e-10 USD (`None` when not available).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarginLine {
    /// Values of the `group_by` dimensions, in order; empty for totals.
    pub key: Vec<String>,
    pub revenue_e10: Option<i64>,
    pub plan_revenue_e10: Option<i64>,
    pub usage_revenue_e10: Option<i64>,
    pub cost_e10: i64,
    pub margin_e10: Option<i64>,
    pub margin_percent: Option<rust_decimal::Decimal>,
    pub cost_percent: Option<rust_decimal::Decimal>,
    pub events: i64,
    pub runs: i64,
    pub unpriced: i64,
    pub tokens: Tokens,
}

impl MarginLine {
    /// Rounds a group's figures once, as the capabilities allow.
    pub fn of(
        key: Vec<String>,
        figures: &Figures,
        caps: Capabilities,
    ) -> Result<Self, DomainError> {
        let mut revenue = figures.plan;
        revenue.add(figures.usage).map_err(internal)?;
        let revenue_e10 = if caps.revenue {
            Some(revenue.total_e10().map_err(internal)?)
        } else {
            None
        };
        let margin_e10 = revenue_e10.map(|revenue| revenue - figures.cost_e10);
        Ok(Self {
            key,
            revenue_e10,
            plan_revenue_e10: if caps.revenue {
                Some(figures.plan.plan_e10().map_err(internal)?)
            } else {
                None
            },
            usage_revenue_e10: if caps.usage_revenue {
                Some(figures.usage.usage_e10().map_err(internal)?)
            } else {
                None
            },
            cost_e10: figures.cost_e10,
            margin_e10,
            margin_percent: revenue_e10
                .zip(margin_e10)
                .and_then(|(revenue, margin)| percent(margin, revenue)),
            cost_percent: revenue_e10.and_then(|revenue| percent(figures.cost_e10, revenue)),
            events: figures.events,
            runs: if caps.runs { figures.runs } else { 0 },
            unpriced: figures.unpriced,
            tokens: figures.tokens,
        })
    }

    fn sort_value(&self, order: MarginOrder) -> Option<rust_decimal::Decimal> {
        use rust_decimal::Decimal;
        match order {
            MarginOrder::Group => None,
            MarginOrder::Revenue => self.revenue_e10.map(Decimal::from),
            MarginOrder::Cost => Some(Decimal::from(self.cost_e10)),
            MarginOrder::Margin => self.margin_e10.map(Decimal::from),
            MarginOrder::MarginPercent => self.margin_percent,
            MarginOrder::CostPercentOfRevenue => self.cost_percent,
            MarginOrder::EventCount => Some(Decimal::from(self.events)),
        }
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

/// Sums every group of the window (the whole report before sorting).
pub async fn groups(
    db: &DatabaseConnection,
    project_id: Uuid,
    window: Window,
    group_by: &[Dimension],
    filters: &[Filter],
    caps: Capabilities,
) -> Result<BTreeMap<Vec<String>, Figures>, DomainError> {
    let query = GroupQuery {
        project_id,
        window,
        dimensions: group_by,
        by_hour: false,
        filters,
    };
    let mut groups: BTreeMap<Vec<String>, Figures> = BTreeMap::new();
    let lines = report_reads::line_groups(db, &query).await?;
    if caps.line_level {
        for line in lines {
            let figures = groups.entry(line.key).or_default();
            figures.events += line.sums[0];
            figures.cost_e10 += line.sums[1];
            figures.unpriced += line.sums[2];
            add_tokens(&mut figures.tokens, tokens(&line.sums[3..8]));
        }
        return Ok(groups);
    }
    for group in report_reads::event_groups(db, &query).await? {
        let figures = groups.entry(group.key).or_default();
        figures.events += group.sums[0];
        figures.cost_e10 += group.sums[1];
        figures.unpriced += group.sums[2];
        figures.runs += group.sums[3];
    }
    for line in lines {
        add_tokens(
            &mut groups.entry(line.key).or_default().tokens,
            tokens(&line.sums[3..8]),
        );
    }
    for ((key, _), usage) in usage_revenue(db, &query).await? {
        groups
            .entry(key)
            .or_default()
            .usage
            .add(usage)
            .map_err(internal)?;
    }
    if caps.revenue {
        for ((key, _), plan) in plan_revenue(db, project_id, group_by, filters, &[window]).await? {
            let figures = groups.entry(key).or_default();
            figures.plan.add(plan).map_err(internal)?;
            figures.has_plan = true;
        }
    }
    // Aggregate rows left at zero by re-attribution are no group, nor are runs started where the
    // grouping cannot count them (their rows have no signal).
    groups.retain(|_, figures| {
        figures.events != 0
            || (caps.runs && figures.runs != 0)
            || figures.has_plan
            || !figures.usage.is_zero()
    });
    Ok(groups)
}

fn add_tokens(sum: &mut Tokens, more: Tokens) {
    sum.input += more.input;
    sum.output += more.output;
    sum.cached_input += more.cached_input;
    sum.cache_creation += more.cache_creation;
    sum.reasoning += more.reasoning;
}

fn tokens(sums: &[i64]) -> Tokens {
    Tokens {
        input: sums[0],
        output: sums[1],
        cached_input: sums[2],
        cache_creation: sums[3],
        reasoning: sums[4],
    }
}

/// Orders rows by `order` (empty values last in either direction), ties by the group values.
pub fn sort(rows: &mut [MarginLine], order: MarginOrder, descending: bool) {
    rows.sort_by(|a, b| {
        let by_value = match (a.sort_value(order), b.sort_value(order)) {
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
    let groups = groups(
        db,
        project_id,
        query.window,
        &query.group_by,
        &query.filters,
        caps,
    )
    .await?;
    let mut total = Figures::default();
    let mut rows = Vec::with_capacity(groups.len());
    for (key, figures) in &groups {
        total.add(figures)?;
        rows.push(MarginLine::of(key.clone(), figures, caps)?);
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
    let display_names = match query
        .group_by
        .iter()
        .position(|dimension| *dimension == Dimension::Customer)
    {
        Some(at) => {
            let ids: Vec<String> = page.iter().map(|row| row.key[at].clone()).collect();
            report_reads::display_names(db, project_id, &ids).await?
        }
        None => Default::default(),
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
