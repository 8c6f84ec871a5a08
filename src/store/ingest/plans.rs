//! Customers' plan histories: reading them, starting periods, and dropping the periods that repeat
//! the plan before them.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, sea_query::OnConflict};
use uuid::Uuid;

use crate::{
    domain::{event::Plan, money::Usd, plan::PlanPeriod},
    store::{
        StoreError,
        entities::customer_plan_periods,
        sql::{Params, Table, val},
    },
};

/// The plan history of each customer, oldest first.
pub async fn plan_periods(
    db: &impl ConnectionTrait,
    customer_refs: &[Uuid],
) -> Result<HashMap<Uuid, Vec<PlanPeriod>>, StoreError> {
    use crate::store::entities::customer_plan_periods as periods;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let mut history: HashMap<Uuid, Vec<PlanPeriod>> = HashMap::new();
    if customer_refs.is_empty() {
        return Ok(history);
    }
    let rows = periods::Entity::find()
        .filter(periods::Column::CustomerRef.is_in(customer_refs.iter().copied()))
        .order_by_asc(periods::Column::StartTime)
        .all(db)
        .await?;
    for row in rows {
        history
            .entry(row.customer_ref)
            .or_default()
            .push(PlanPeriod {
                start_time: row.start_time,
                plan: Plan {
                    name: row.plan_name,
                    monthly: Usd::from_e10(row.monthly_usd_e10),
                },
            });
    }
    Ok(history)
}

/// Starts plan periods (replacing one that starts at the same instant).
pub async fn insert_plan_periods(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    periods: &[(Uuid, PlanPeriod)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use customer_plan_periods::Column::*;
    if periods.is_empty() {
        return Ok(());
    }
    let table = Table::of([
        Id,
        ProjectId,
        CustomerRef,
        PlanName,
        MonthlyUsdE10,
        StartTime,
        CreateTime,
    ]);
    let rows = periods.iter().map(|(customer_ref, period)| {
        vec![
            val(Uuid::now_v7()),
            val(project_id),
            val(*customer_ref),
            val(period.plan.name.clone()),
            val(period.plan.monthly.e10()),
            val(period.start_time),
            val(now),
        ]
    });
    let mut insert = table.insert(rows);
    insert.on_conflict(
        OnConflict::columns([CustomerRef, StartTime])
            .update_columns([PlanName, MonthlyUsdE10])
            .to_owned(),
    );
    db.execute(&insert).await?;
    let customers: BTreeSet<Uuid> = periods
        .iter()
        .map(|(customer_ref, _)| *customer_ref)
        .collect();
    drop_repeated_periods(db, &customers).await
}

/// Deletes the periods of these customers that repeat the plan of the period before them: a
/// period started earlier with the plan of the next one (a back-dated record of the customer's
/// plan) makes the next one say nothing, and a history without repeats is what reports read.
async fn drop_repeated_periods(
    db: &impl ConnectionTrait,
    customers: &BTreeSet<Uuid>,
) -> Result<(), StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let refs: Vec<String> = customers.iter().map(|id| params.bind(*id)).collect();
    let sql = format!(
        "DELETE FROM customer_plan_periods WHERE id IN (SELECT id FROM (\
         SELECT p.id, COALESCE(LAG(p.plan_name) OVER w = p.plan_name \
         AND LAG(p.monthly_usd_e10) OVER w = p.monthly_usd_e10, FALSE) AS repeats \
         FROM customer_plan_periods p WHERE p.customer_ref IN ({refs}) \
         WINDOW w AS (PARTITION BY p.customer_ref ORDER BY p.start_time)) periods WHERE repeats)",
        refs = refs.join(", ")
    );
    db.execute_raw(params.statement(sql)).await?;
    Ok(())
}
