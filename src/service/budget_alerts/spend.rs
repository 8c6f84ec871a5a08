//! The month's spend of budgets, as `CheckBudget` reports it: the store's check reading (folded
//! totals, plus on PostgreSQL the events still queued for folding), asked once per scope.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::money::Usd,
    store::{
        StoreError,
        budgets::{self, Budget},
    },
};

/// The spend in the month starting `month` of each of `wanted` (budgets of one project), by id.
///
/// A check reading for a customer and agent returns every budget covering them with its spend,
/// so the scopes are asked most specific first (a customer's agent covers the project, the
/// customer and the agent as well), and a scope whose budgets an earlier reading already
/// returned is not asked again.
pub(super) async fn month_spend(
    db: &DatabaseConnection,
    project_id: Uuid,
    wanted: &[Budget],
    month: DateTime<Utc>,
) -> Result<HashMap<Uuid, Usd>, StoreError> {
    let ids: HashSet<Uuid> = wanted.iter().map(|budget| budget.id).collect();
    let mut scopes: Vec<(Option<&str>, Option<&str>)> = wanted
        .iter()
        .map(|budget| {
            (
                budget.scope.customer_id.as_deref(),
                budget.scope.agent_code.as_deref(),
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    scopes.sort_by_key(|(customer, agent)| {
        std::cmp::Reverse(customer.is_some() as u8 + agent.is_some() as u8)
    });
    let mut spend = HashMap::with_capacity(ids.len());
    for (customer, agent) in scopes {
        let answered = wanted.iter().all(|budget| {
            (
                budget.scope.customer_id.as_deref(),
                budget.scope.agent_code.as_deref(),
            ) != (customer, agent)
                || spend.contains_key(&budget.id)
        });
        if answered {
            continue;
        }
        let query = budgets::CheckQuery {
            project_id,
            run_key: None,
            customer_id: customer,
            agent_code: agent,
            month_start: month,
            now: crate::store::now(),
        };
        let reading = budgets::check_reading(db, &query).await?;
        for applicable in reading.budgets {
            if ids.contains(&applicable.budget.id) {
                spend.insert(applicable.budget.id, applicable.spent);
            }
        }
    }
    Ok(spend)
}
