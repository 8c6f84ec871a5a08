//! A month's spend of budget scopes, for flagging the runs of a batch: the scopes without a
//! customer (an agent's, the project's) from `monthly_spend`, a customer's (alone or with an
//! agent) from `event_monthly`, summed over plans and signals.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    domain::money::Usd,
    store::{
        StoreError,
        entities::monthly_spend as spend,
        sql::{Params, sum_bigint},
    },
};

/// Spend by scope: `(customer, agent)`, `''` standing for all.
pub type SpendByKey = HashMap<(String, String), Usd>;

/// Which months, customers and agents [`monthly_spend_of`] reads (each with `''`, "all", too).
#[derive(Debug, Default)]
pub struct SpendQuery {
    pub months: BTreeSet<DateTime<Utc>>,
    pub customers: BTreeSet<String>,
    pub agents: BTreeSet<String>,
}

/// The spend of every scope of these months whose customer and agent are among the wanted ones
/// or `''`: the scopes of many checks in two queries. A scope with no spend is absent.
pub async fn monthly_spend_of(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    wanted: &SpendQuery,
) -> Result<HashMap<(DateTime<Utc>, String, String), Usd>, StoreError> {
    let mut found = HashMap::new();
    if wanted.months.is_empty() {
        return Ok(found);
    }
    let agents: Vec<String> = wanted
        .agents
        .iter()
        .cloned()
        .chain([String::new()])
        .collect();
    let rows = spend::Entity::find()
        .filter(spend::Column::ProjectId.eq(project_id))
        .filter(spend::Column::MonthStart.is_in(wanted.months.iter().copied()))
        .filter(spend::Column::CustomerId.eq(""))
        .filter(spend::Column::AgentCode.is_in(agents))
        .all(db)
        .await?;
    for row in rows {
        found.insert(
            (row.month_start, String::new(), row.agent_code),
            Usd::from_e10(row.cost_e10),
        );
    }
    if wanted.customers.is_empty() {
        return Ok(found);
    }

    let backend = db.get_database_backend();
    let mut params = Params::new(backend);
    let project = params.bind(project_id);
    let months: Vec<String> = wanted
        .months
        .iter()
        .map(|month| params.bind(*month))
        .collect();
    let customers = params.in_texts(wanted.customers.iter().cloned().collect());
    let sql = format!(
        "SELECT month_start, customer_id, agent_code, {sum} FROM event_monthly \
         WHERE project_id = {project} AND month_start IN ({months}) AND customer_id {customers} \
         GROUP BY month_start, customer_id, agent_code",
        sum = sum_bigint(backend, "cost_e10"),
        months = months.join(", "),
    );
    for row in db.query_all_raw(params.into_statement(sql)).await? {
        let month: DateTime<Utc> = row.try_get_by_index(0)?;
        let customer: String = row.try_get_by_index(1)?;
        let agent: String = row.try_get_by_index(2)?;
        let cost: i64 = row.try_get_by_index(3)?;
        let alone = found
            .entry((month, customer.clone(), String::new()))
            .or_insert(Usd::ZERO);
        *alone = Usd::from_e10(alone.e10().saturating_add(cost));
        if wanted.agents.contains(&agent) {
            found.insert((month, customer, agent), Usd::from_e10(cost));
        }
    }
    Ok(found)
}
