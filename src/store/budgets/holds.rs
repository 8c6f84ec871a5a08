//! Holds once placed (migration 000013; [`super::check_and_hold`] places them): settling them with
//! their events, releasing them, and reading a run's.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    domain::{
        hold::{Ending, Hold},
        money::Usd,
    },
    store::{
        StoreError,
        entities::budget_holds::{self, Column},
        sql::{Params, sum_bigint},
    },
};

fn hold_of(model: budget_holds::Model) -> Result<Hold, StoreError> {
    let ended = match (model.end_time, model.end_reason.as_deref()) {
        (Some(time), Some(reason)) => Some((
            time,
            Ending::parse(reason).ok_or_else(|| {
                StoreError::Other(DbErr::Custom(format!(
                    "hold {} ended as {reason:?}",
                    model.id
                )))
            })?,
        )),
        _ => None,
    };
    Ok(Hold {
        id: model.id,
        customer_id: model.customer_id,
        agent_code: model.agent_code,
        run_key: model.run_key,
        amount: Usd::from_e10(model.amount_e10),
        month_start: model.month_start,
        create_time: model.create_time,
        expire_time: model.expire_time,
        ended,
        event_id: model.event_id,
        settled_cost: model.settled_cost_e10.map(Usd::from_e10),
    })
}

/// A stored event that names a hold: the hold, the event and its cost (`None` when unknown).
#[derive(Clone, Copy, Debug)]
pub struct Settlement {
    pub hold_id: Uuid,
    pub event_id: Uuid,
    pub cost: Option<Usd>,
}

/// Settles the holds that stored events name, in the events' transaction: the event's cost enters
/// the spend as its hold leaves it, in one commit. Holds already ended, of another project or
/// unknown are left as they are; an expired one is settled (it stopped counting already).
pub async fn settle(
    txn: &impl ConnectionTrait,
    project_id: Uuid,
    settlements: &[Settlement],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if settlements.is_empty() {
        return Ok(());
    }
    let mut params = Params::new(txn.get_database_backend());
    let project = params.bind(project_id);
    let time = params.bind(now);
    let reason = params.bind(Ending::Settled.as_str());
    // Casts, so that PostgreSQL types the VALUES columns whatever the first row holds.
    let rows = params.tuples(settlements.iter().map(|settlement| {
        vec![
            settlement.hold_id.into(),
            settlement.event_id.into(),
            settlement.cost.map(Usd::e10).into(),
        ]
    }));
    let sql = format!(
        "UPDATE budget_holds SET end_time = {time}, end_reason = {reason}, \
           event_id = s.event_id, settled_cost_e10 = s.cost \
         FROM (SELECT column1 AS hold_id, column2 AS event_id, CAST(column3 AS BIGINT) AS cost \
           FROM (VALUES {rows}) AS v) AS s \
         WHERE budget_holds.id = s.hold_id AND budget_holds.project_id = {project} \
           AND budget_holds.end_time IS NULL"
    );
    txn.execute_raw(params.into_statement(sql)).await?;
    Ok(())
}

/// Releases an open hold (idempotent: an ended or expired one is returned as it is); `None` for a
/// hold unknown to the project.
pub async fn release(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    hold_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Hold>, StoreError> {
    budget_holds::Entity::update_many()
        .col_expr(Column::EndTime, Expr::value(now))
        .col_expr(Column::EndReason, Expr::value(Ending::Released.as_str()))
        .filter(Column::Id.eq(hold_id))
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::EndTime.is_null())
        .filter(Column::ExpireTime.gt(now))
        .exec(db)
        .await?;
    budget_holds::Entity::find_by_id(hold_id)
        .filter(Column::ProjectId.eq(project_id))
        .one(db)
        .await?
        .map(hold_of)
        .transpose()
}

/// A run's open holds at `now`, oldest first.
pub async fn open_of_run(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Hold>, StoreError> {
    budget_holds::Entity::find()
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::RunKey.eq(run_key))
        .filter(Column::EndTime.is_null())
        .filter(Column::ExpireTime.gt(now))
        .order_by_asc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(hold_of)
        .collect()
}

/// What a run's steps cost above the holds they settled, summed.
pub async fn run_overrun(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_key: &str,
) -> Result<Usd, StoreError> {
    let backend = db.get_database_backend();
    let overrun = sum_bigint(backend, "settled_cost_e10 - amount_e10");
    let overrun: Option<i64> = budget_holds::Entity::find()
        .select_only()
        .expr(Expr::cust(overrun))
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::RunKey.eq(run_key))
        .filter(Expr::cust("settled_cost_e10 > amount_e10"))
        .into_tuple()
        .one(db)
        .await?;
    Ok(Usd::from_e10(overrun.unwrap_or(0)))
}
