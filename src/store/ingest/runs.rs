//! The runs a batch names: finding them by the caller's run id, and creating the new ones.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

use super::NewRun;
use crate::store::{
    StoreError,
    entities::runs,
    sql::{Params, Table},
};

/// A run as ingest needs it: its id and the attribution it supplies to its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub id: Uuid,
    pub customer_ref: Uuid,
    pub customer_id: String,
    pub agent_ref: Uuid,
    pub agent_code: String,
    pub user_id: Option<String>,
}

/// The project's runs with these caller run ids.
pub async fn find_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_keys: &[String],
) -> Result<HashMap<String, RunRef>, StoreError> {
    let mut runs = HashMap::new();
    if run_keys.is_empty() {
        return Ok(runs);
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT r.id, r.run_key, r.customer_ref, c.customer_id, r.agent_ref, a.agent_code, \
         r.user_id FROM runs r JOIN customers c ON c.id = r.customer_ref \
         JOIN agents a ON a.id = r.agent_ref WHERE r.project_id = {} AND r.run_key {}",
        params.bind(project_id),
        params.in_texts(run_keys.to_vec()),
    );
    for row in db.query_all_raw(params.into_statement(sql)).await? {
        runs.insert(
            row.try_get::<String>("", "run_key")?,
            RunRef {
                id: row.try_get("", "id")?,
                customer_ref: row.try_get("", "customer_ref")?,
                customer_id: row.try_get("", "customer_id")?,
                agent_ref: row.try_get("", "agent_ref")?,
                agent_code: row.try_get("", "agent_code")?,
                user_id: row.try_get("", "user_id")?,
            },
        );
    }
    Ok(runs)
}

/// Creates runs; one that another writer created meanwhile is left as it is. Returns the ids of
/// the runs actually created, by run key.
pub async fn insert_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    runs: &[NewRun],
) -> Result<HashMap<String, Uuid>, StoreError> {
    let table = {
        use runs::Column::*;
        Table::of([
            Id,
            ProjectId,
            RunKey,
            CustomerRef,
            AgentRef,
            UserId,
            Status,
            StartTime,
            Cancelled,
            Metadata,
        ])
    };
    let rows = runs
        .iter()
        .map(|run| {
            vec![
                Value::from(Uuid::now_v7()),
                Value::from(project_id),
                Value::from(run.run_key.clone()),
                Value::from(run.customer_ref),
                Value::from(run.agent_ref),
                Value::from(run.user_id.clone()),
                Value::from("RUNNING"),
                Value::from(run.start_time),
                Value::from(false),
                Value::from(run.metadata.clone()),
            ]
        })
        .collect();
    let returned = table
        .insert_new(
            db,
            rows,
            &[runs::Column::ProjectId, runs::Column::RunKey],
            &[runs::Column::Id, runs::Column::RunKey],
        )
        .await?;
    returned
        .iter()
        .map(|row| Ok((row.try_get("", "run_key")?, row.try_get("", "id")?)))
        .collect()
}
