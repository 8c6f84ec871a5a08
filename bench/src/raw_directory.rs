//! What the raw baseline creates before its clock starts, so that its rows' foreign keys hold: the
//! project, the customers, agents, signals and runs of the workload; and the catalog price rows its
//! cost items name.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tally::store::{
    self,
    entities::catalog_prices,
    ingest::{self, NewRun, Seen},
};
use uuid::Uuid;

use super::{
    models::{KNOWN_MODELS, Tokens},
    raw_rows::Refs,
    synthetic::{AGENTS, RUNS_PER_CUSTOMER, Workload},
};

/// Creates (or finds) the project and every row the workload's events point at, with the store's
/// own functions; returns their ids.
pub async fn prepare(
    db: &DatabaseConnection,
    workload: &Workload,
    project: &str,
) -> anyhow::Result<Refs> {
    let (project, _) = store::api_keys::ensure_project(db, project)
        .await
        .with_context(|| format!("cannot create project {project:?}"))?;
    let project_id = project.id;
    let now = store::now();
    let seen = Seen {
        first: workload.now - chrono::TimeDelta::days(30),
        last: workload.now,
        display_name: None,
    };
    let seen_all = |names: &mut dyn Iterator<Item = String>| -> BTreeMap<String, Seen> {
        names.map(|name| (name, seen.clone())).collect()
    };

    let mut customers = Vec::with_capacity(workload.customers);
    let customer_ids: Vec<String> = (0..workload.customers).map(Workload::customer_id).collect();
    for chunk in customer_ids.chunks(CHUNK) {
        let ids =
            ingest::upsert_customers(db, project_id, &seen_all(&mut chunk.iter().cloned()), now)
                .await
                .context("cannot create the bench's customers")?
                .ids;
        for customer_id in chunk {
            customers.push(ids[customer_id]);
        }
    }
    let agent_codes: Vec<&str> = AGENTS.iter().map(|(code, _)| *code).collect();
    let signal_names: Vec<&str> = AGENTS.iter().filter_map(|(_, signal)| *signal).collect();
    let by_agent = ingest::upsert_names(
        db,
        ingest::NamedTable::Agents,
        project_id,
        &seen_all(&mut agent_codes.iter().map(|code| (*code).to_owned())),
        now,
    )
    .await?;
    let agents = agent_codes
        .iter()
        .map(|code| by_agent[*code])
        .collect::<Vec<Uuid>>();
    let by_signal = ingest::upsert_names(
        db,
        ingest::NamedTable::Signals,
        project_id,
        &seen_all(&mut signal_names.iter().map(|name| (*name).to_owned())),
        now,
    )
    .await?;
    let signals = signal_names
        .iter()
        .map(|name| (*name, by_signal[*name]))
        .collect();

    let run_keys: Vec<String> = (0..workload.customers * RUNS_PER_CUSTOMER)
        .map(|run| workload.run_id(run))
        .collect();
    let mut runs = Vec::with_capacity(run_keys.len());
    for (chunk_index, chunk) in run_keys.chunks(CHUNK).enumerate() {
        let new_runs: Vec<NewRun> = chunk
            .iter()
            .enumerate()
            .map(|(offset, run_key)| {
                let run = chunk_index * CHUNK + offset;
                NewRun {
                    run_key: run_key.clone(),
                    customer_ref: customers[run / RUNS_PER_CUSTOMER],
                    agent_ref: agents[Workload::run_agent(run)],
                    user_id: None,
                    metadata: None,
                    start_time: seen.first,
                }
            })
            .collect();
        ingest::insert_runs(db, project_id, &new_runs)
            .await
            .context("cannot create the bench's runs")?;
        let found = ingest::find_runs(db, project_id, chunk).await?;
        for run_key in chunk {
            runs.push(
                found
                    .get(run_key)
                    .with_context(|| format!("run {run_key} was not created"))?
                    .id,
            );
        }
    }

    Ok(Refs {
        project_id,
        customers,
        agents,
        signals,
        runs,
        prices: catalog_prices_of_models(db).await?,
    })
}

/// Rows per statement while preparing: within both databases' parameter limits.
const CHUNK: usize = 1_000;

/// The standard-tier catalog price rows of the known models (the latest of each dimension), after
/// a check that they are the prices the bench's table assumes.
async fn catalog_prices_of_models(
    db: &DatabaseConnection,
) -> anyhow::Result<HashMap<(String, String, String), (Uuid, DateTime<Utc>)>> {
    let rows = catalog_prices::Entity::find()
        .filter(catalog_prices::Column::ServiceTier.eq("STANDARD"))
        .filter(catalog_prices::Column::MinInputTokens.eq(0))
        .filter(catalog_prices::Column::Model.is_in(KNOWN_MODELS.iter().map(|m| m.model)))
        .all(db)
        .await?;
    let mut latest: HashMap<(String, String, String), catalog_prices::Model> = HashMap::new();
    for row in rows {
        let key = (
            row.provider.clone(),
            row.model.clone(),
            row.dimension.clone(),
        );
        if latest
            .get(&key)
            .is_none_or(|known| known.effective_time < row.effective_time)
        {
            latest.insert(key, row);
        }
    }
    let every_token = Tokens {
        input: Some(1_000),
        output: Some(1_000),
        cached_input: Some(100),
        cache_creation: Some(100),
        reasoning: Some(100),
    };
    for model in &KNOWN_MODELS {
        for bill in model.bill(&every_token) {
            let key = (
                model.provider.to_owned(),
                model.model.to_owned(),
                bill.dimension.as_str().to_owned(),
            );
            let assumed = Decimal::new(bill.unit_price_e10, 10);
            match latest.get(&key) {
                Some(row) if row.unit_price_usd.parse::<Decimal>().ok() == Some(assumed) => {}
                found => tracing::warn!(
                    provider = model.provider,
                    model = model.model,
                    dimension = bill.dimension.as_str(),
                    assumed = %assumed,
                    catalog = ?found.map(|row| &row.unit_price_usd),
                    "the raw baseline's price differs from the catalog's; its cost items will too"
                ),
            }
        }
    }
    Ok(latest
        .into_iter()
        .map(|(key, row)| (key, (row.id, row.effective_time)))
        .collect())
}
