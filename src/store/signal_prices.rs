//! Signal prices of a project: the USD price of one unit of a signal under a plan, from an
//! effective time on. Unit prices are decimal text, never summed.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Alias, Cond, Expr, ExprTrait, OnConflict, Order, Query},
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::signal_prices,
    sql::{Table, val},
};

/// A signal price to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSignalPrice {
    pub plan_name: String,
    pub signal_name: String,
    pub unit_price: Decimal,
    pub effective_time: DateTime<Utc>,
}

/// A stored signal price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalPrice {
    pub plan_name: String,
    pub signal_name: String,
    pub unit_price: Decimal,
    pub effective_time: DateTime<Utc>,
    pub create_time: DateTime<Utc>,
}

/// The position after a listed price: plan, signal and effective time (unique together).
pub type PriceCursor = (String, String, DateTime<Utc>);

/// Sets the price of the signal (row `signal_ref`), replacing one of the same plan, signal and
/// effective time.
pub async fn upsert(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    signal_ref: Uuid,
    price: &NewSignalPrice,
    now: DateTime<Utc>,
) -> Result<SignalPrice, StoreError> {
    use signal_prices::Column::*;
    let table = Table::of([
        Id,
        ProjectId,
        PlanName,
        SignalRef,
        UnitPriceUsd,
        EffectiveTime,
        CreateTime,
    ]);
    let mut insert = table.insert([vec![
        val(Uuid::now_v7()),
        val(project_id),
        val(price.plan_name.clone()),
        val(signal_ref),
        val(price.unit_price.normalize().to_string()),
        val(price.effective_time),
        val(now),
    ]]);
    insert.on_conflict(
        OnConflict::columns([ProjectId, PlanName, SignalRef, EffectiveTime])
            .update_columns([UnitPriceUsd, CreateTime])
            .to_owned(),
    );
    db.execute(&insert).await?;
    Ok(SignalPrice {
        plan_name: price.plan_name.clone(),
        signal_name: price.signal_name.clone(),
        unit_price: price.unit_price.normalize(),
        effective_time: price.effective_time,
        create_time: now,
    })
}

/// Which signal prices to list.
#[derive(Clone, Debug, Default)]
pub struct SignalPriceFilter {
    pub plan_name: Option<String>,
    pub signal_name: Option<String>,
}

/// Up to `limit` prices of the project ordered by plan, signal and effective time, after `after`.
pub async fn list(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &SignalPriceFilter,
    after: Option<&PriceCursor>,
    limit: u64,
) -> Result<Vec<SignalPrice>, StoreError> {
    let (p, s) = (Alias::new("signal_prices"), Alias::new("signals"));
    let plan = Expr::col((p.clone(), Alias::new("plan_name")));
    let signal = Expr::col((s.clone(), Alias::new("signal_name")));
    let effective = Expr::col((p.clone(), Alias::new("effective_time")));
    let mut select = Query::select()
        .columns(
            [
                "plan_name",
                "unit_price_usd",
                "effective_time",
                "create_time",
            ]
            .map(|column| (p.clone(), Alias::new(column))),
        )
        .column((s.clone(), Alias::new("signal_name")))
        .from(p.clone())
        .inner_join(
            s.clone(),
            Expr::col((s, Alias::new("id"))).equals((p.clone(), Alias::new("signal_ref"))),
        )
        .and_where(Expr::col((p, Alias::new("project_id"))).eq(project_id))
        .order_by_expr(plan.clone(), Order::Asc)
        .order_by_expr(signal.clone(), Order::Asc)
        .order_by_expr(effective.clone(), Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(plan_name) = &filter.plan_name {
        select.and_where(plan.clone().eq(plan_name.as_str()));
    }
    if let Some(signal_name) = &filter.signal_name {
        select.and_where(signal.clone().eq(signal_name.as_str()));
    }
    if let Some((after_plan, after_signal, after_time)) = after {
        select.cond_where(
            Cond::any()
                .add(plan.clone().gt(after_plan.as_str()))
                .add(
                    Cond::all()
                        .add(plan.clone().eq(after_plan.as_str()))
                        .add(signal.clone().gt(after_signal.as_str())),
                )
                .add(
                    Cond::all()
                        .add(plan.eq(after_plan.as_str()))
                        .add(signal.eq(after_signal.as_str()))
                        .add(effective.gt(*after_time)),
                ),
        );
    }
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("", "unit_price_usd")?;
            let unit_price = text
                .parse::<Decimal>()
                .map_err(|_| DbErr::Type(format!("signal price: bad unit price {text:?}")))?;
            Ok(SignalPrice {
                plan_name: row.try_get("", "plan_name")?,
                signal_name: row.try_get("", "signal_name")?,
                unit_price,
                effective_time: row.try_get("", "effective_time")?,
                create_time: row.try_get("", "create_time")?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}
