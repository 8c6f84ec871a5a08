//! Report groups: the sums of one window grouped by some dimensions, read from the
//! aggregates with their revenue, and rounded once into the rows `GetMargin` and
//! `ListRiskyAccounts` show.

use std::collections::BTreeMap;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report_revenue::{plan_revenue, usage_revenue};
use crate::{
    domain::{
        DomainError,
        exact::ExactUsd,
        ledger::Tokens,
        report::{Capabilities, Dimension, Filter, Window},
        revenue::ExactRevenue,
    },
    store::report_reads::{self, GroupQuery},
};

/// Sums of one group before rounding.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub events: i64,
    pub runs: i64,
    /// Events (lines, at line level) with a line of unknown cost: no price or no volume.
    pub unpriced: i64,
    pub cost_e10: i64,
    pub tokens: Tokens,
    pub plan: ExactRevenue,
    pub usage: ExactRevenue,
    /// Whether the group has plan periods in the window (a row even without events).
    pub has_plan: bool,
}

impl Figures {
    /// Adds another group's sums.
    pub fn add(&mut self, other: &Figures) -> Result<(), DomainError> {
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

pub(super) fn internal(error: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::Internal(Box::new(error))
}

/// One row as shown: rounded money in 1e-10 USD (`None` when not available).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarginLine {
    /// Values of the `group_by` dimensions, in order; empty for totals.
    pub key: Vec<String>,
    /// Revenue before rounding, for the comparisons that must not follow a rounded figure.
    pub exact_revenue: Option<ExactUsd>,
    pub revenue_e10: Option<i64>,
    pub plan_revenue_e10: Option<i64>,
    pub usage_revenue_e10: Option<i64>,
    pub cost_e10: i64,
    pub margin_e10: Option<i64>,
    pub margin_percent: Option<rust_decimal::Decimal>,
    pub cost_percent: Option<rust_decimal::Decimal>,
    pub events: i64,
    pub runs: i64,
    /// Events (lines, at line level) with a line of unknown cost: no price or no volume.
    pub unpriced: i64,
    pub tokens: Tokens,
}

impl MarginLine {
    /// Rounds a group's figures, as the capabilities allow: each once, from the exact revenue
    /// (margin and percentages too, so none follows another rounded figure).
    pub fn of(
        key: Vec<String>,
        figures: &Figures,
        caps: Capabilities,
    ) -> Result<Self, DomainError> {
        let cost = ExactUsd::from_e10(figures.cost_e10);
        let (mut exact_revenue, mut revenue_e10, mut plan_revenue_e10) = (None, None, None);
        let (mut margin_e10, mut margin_percent, mut cost_percent) = (None, None, None);
        if caps.revenue {
            let mut sum = figures.plan;
            sum.add(figures.usage).map_err(internal)?;
            let revenue = sum.total().map_err(internal)?;
            let margin = revenue.checked_sub(cost).map_err(internal)?;
            exact_revenue = Some(revenue);
            revenue_e10 = Some(revenue.round_e10().map_err(internal)?);
            plan_revenue_e10 = Some(figures.plan.plan_e10().map_err(internal)?);
            margin_e10 = Some(margin.round_e10().map_err(internal)?);
            margin_percent = margin.percent_of(revenue).map_err(internal)?;
            cost_percent = cost.percent_of(revenue).map_err(internal)?;
        }
        Ok(Self {
            key,
            exact_revenue,
            revenue_e10,
            plan_revenue_e10,
            usage_revenue_e10: if caps.usage_revenue {
                Some(figures.usage.usage_e10().map_err(internal)?)
            } else {
                None
            },
            cost_e10: figures.cost_e10,
            margin_e10,
            margin_percent,
            cost_percent,
            events: figures.events,
            runs: if caps.runs { figures.runs } else { 0 },
            unpriced: figures.unpriced,
            tokens: figures.tokens,
        })
    }
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
        period: None,
        filters,
    };
    let mut groups: BTreeMap<Vec<String>, Figures> = BTreeMap::new();
    if caps.line_level {
        for line in report_reads::line_groups(db, &query).await? {
            let figures = groups.entry(line.key).or_default();
            figures.events += line.sums[0];
            figures.cost_e10 += line.sums[1];
            figures.unpriced += line.sums[2] + line.sums[3];
            add_tokens(&mut figures.tokens, tokens(&line.sums[4..9]));
        }
        return Ok(groups);
    }
    // Three independent reads, each on its own connection of the pool.
    let plans = async {
        if caps.revenue {
            plan_revenue(db, project_id, group_by, filters, &[window]).await
        } else {
            Ok(Default::default())
        }
    };
    let (events, usage, plans) = tokio::try_join!(
        async { Ok(report_reads::event_groups(db, &query).await?) },
        usage_revenue(db, &query),
        plans,
    )?;
    for group in events {
        let figures = groups.entry(group.key).or_default();
        figures.events += group.sums[0];
        figures.cost_e10 += group.sums[1];
        figures.unpriced += group.sums[2] + group.sums[3];
        figures.runs += group.sums[4];
        add_tokens(&mut figures.tokens, tokens(&group.sums[6..11]));
    }
    for ((key, _), usage) in usage {
        groups
            .entry(key)
            .or_default()
            .usage
            .add(usage)
            .map_err(internal)?;
    }
    for ((key, _), plan) in plans {
        let figures = groups.entry(key).or_default();
        figures.plan.add(plan).map_err(internal)?;
        figures.has_plan = true;
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
