//! Runs: starting them explicitly (idempotent), ending them, their outcomes, and their summaries.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use uuid::Uuid;

use super::{
    fold::{self, Folder, StartedRun},
    plan_moves::{HistoryChange, move_stored},
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::CustomerRef,
        hold::Hold,
        ledger::Deltas,
        money::Usd,
        page_token::{self, PageLimits},
        plan::{in_force, plan_at, start_plan},
        run::{Outcome, RunStatus, Transition, transition},
        run_flags::FlagSettings,
        tenant::Tenant,
    },
    store::{
        self, StoreError,
        budgets::holds,
        ingest::{self as writes, Seen},
        runs::{NewRun, RunCursor, RunFilter, RunRecord},
    },
};

/// Runs per `ListRuns` page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// A run to start.
#[derive(Clone, Debug)]
pub struct StartRun {
    pub run_key: Option<String>,
    pub customer: CustomerRef,
    pub agent_code: String,
    pub user_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub start_time: DateTime<Utc>,
}

/// How a run ends.
#[derive(Clone, Debug)]
pub enum Ending {
    Completed { outcomes: Vec<Outcome> },
    Failed { reason: String, cancelled: bool },
}

/// Runs of projects.
pub struct RunsService {
    db: DatabaseConnection,
    settings: FlagSettings,
    /// Runs' totals and flags are read after the project's queued events are folded.
    folder: Arc<Folder>,
}

impl RunsService {
    pub fn new(db: DatabaseConnection, settings: FlagSettings, folder: Arc<Folder>) -> Self {
        Self {
            db,
            settings,
            folder,
        }
    }

    /// The thresholds flags are raised with.
    pub fn flag_settings(&self) -> &FlagSettings {
        &self.settings
    }

    /// Starts a run, or returns the existing one with the same id (`false`) when it is for the same
    /// customer and agent.
    pub async fn start(
        &self,
        tenant: Tenant,
        run: StartRun,
    ) -> Result<(RunRecord, bool), DomainError> {
        let project_id = tenant.project_id;
        self.folder.catch_up(project_id).await?;
        let now = store::now();
        let txn = store::begin_write(&self.db).await?;
        let run_key = run
            .run_key
            .clone()
            .unwrap_or_else(|| Uuid::now_v7().to_string());
        if let Some(existing) = store::runs::find(&txn, project_id, &run_key).await? {
            return same_run(existing, &run);
        }
        let mut seen = Seen::at(run.start_time);
        seen.display_name = run.customer.name.clone();
        let customers = writes::upsert_customers(
            &txn,
            project_id,
            &BTreeMap::from([(run.customer.id.clone(), seen)]),
            now,
        )
        .await?
        .ids;
        let agents = writes::upsert_names(
            &txn,
            writes::NamedTable::Agents,
            project_id,
            &BTreeMap::from([(run.agent_code.clone(), Seen::at(run.start_time))]),
            now,
        )
        .await?;
        let customer_ref = customers[&run.customer.id];
        let mut deltas = Deltas::default();
        let plan_name = self
            .apply_plan(&txn, project_id, customer_ref, &run, now, &mut deltas)
            .await?;
        let new = NewRun {
            run_key: run_key.clone(),
            customer_ref,
            agent_ref: agents[&run.agent_code],
            user_id: run.user_id.clone(),
            metadata: run.metadata.clone(),
            start_time: run.start_time,
        };
        let created = store::runs::start(&txn, project_id, &new).await?;
        let record = store::runs::find(&txn, project_id, &run_key)
            .await?
            .ok_or_else(|| {
                DomainError::Internal(format!("run {run_key} not found after start").into())
            })?;
        if !created {
            // Another writer started it meanwhile.
            return same_run(record, &run);
        }
        let started = StartedRun {
            id: record.id,
            start_time: run.start_time,
            customer_id: &run.customer.id,
            plan_name: plan_name.as_deref(),
            agent_code: &run.agent_code,
            user_id: run.user_id.as_deref(),
        };
        fold::count_started(&txn, project_id, &[started], &mut deltas).await?;
        deltas.prune();
        store::totals::apply_deltas(&txn, project_id, &deltas).await?;
        txn.commit().await.map_err(StoreError::from)?;
        self.folder.poke(project_id);
        Ok((record, true))
    }

    /// Starts the plan the run carries, if it differs from the one in force; a period that starts
    /// before events or runs already stored moves them to its plan, as `UpdateCustomer` with a past
    /// start does (`plan_moves`), adding what moves to `deltas`. Returns the plan in force at the
    /// run's start.
    async fn apply_plan(
        &self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        customer_ref: Uuid,
        run: &StartRun,
        now: DateTime<Utc>,
        deltas: &mut Deltas,
    ) -> Result<Option<String>, StoreError> {
        let mut history = writes::plan_periods(txn, &[customer_ref])
            .await?
            .remove(&customer_ref)
            .unwrap_or_default();
        if let Some(plan) = &run.customer.plan
            && !in_force(&history, plan, run.start_time)
        {
            let before = history.clone();
            if let Some(period) = start_plan(&mut history, plan, run.start_time) {
                let change = HistoryChange {
                    customer_ref,
                    customer_id: &run.customer.id,
                    before: &before,
                    after: &history,
                };
                move_stored(txn, project_id, &change, &HashSet::new(), deltas).await?;
                writes::insert_plan_periods(txn, project_id, &[(customer_ref, period)], now)
                    .await?;
            }
        }
        Ok(plan_at(&history, run.start_time).map(|period| period.plan.name.clone()))
    }

    /// Ends a run; ending it again the same way changes nothing, the other way is refused.
    pub async fn end(
        &self,
        tenant: Tenant,
        run_key: &str,
        ending: Ending,
        end_time: DateTime<Utc>,
    ) -> Result<RunRecord, DomainError> {
        let project_id = tenant.project_id;
        self.folder.catch_up(project_id).await?;
        let txn = store::begin_write(&self.db).await?;
        let run = find_or_not_found(&txn, project_id, run_key).await?;
        let target = match ending {
            Ending::Completed { .. } => RunStatus::Completed,
            Ending::Failed { .. } => RunStatus::Failed,
        };
        match transition(run.status, target) {
            Transition::AlreadyThere => return Ok(run),
            Transition::Refused => {
                return Err(DomainError::FailedPrecondition {
                    reason: "RUN_ALREADY_ENDED",
                    message: format!("run {run_key:?} already ended as {}", run.status.as_str()),
                });
            }
            Transition::End => {}
        }
        match &ending {
            Ending::Completed { outcomes } => {
                store::runs::end(&txn, run.id, RunStatus::Completed, end_time, None).await?;
                store::runs::insert_outcomes(&txn, project_id, run.id, outcomes).await?;
            }
            Ending::Failed { reason, cancelled } => {
                store::runs::end(
                    &txn,
                    run.id,
                    RunStatus::Failed,
                    end_time,
                    Some((reason, *cancelled)),
                )
                .await?;
            }
        }
        let run = find_or_not_found(&txn, project_id, run_key).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(run)
    }

    /// Attaches an outcome to a run in any status.
    pub async fn record_outcome(
        &self,
        tenant: Tenant,
        run_key: &str,
        outcome: Outcome,
    ) -> Result<Outcome, DomainError> {
        let txn = store::begin_write(&self.db).await?;
        let run = find_or_not_found(&txn, tenant.project_id, run_key).await?;
        store::runs::insert_outcomes(
            &txn,
            tenant.project_id,
            run.id,
            std::slice::from_ref(&outcome),
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(outcome)
    }

    /// A run's summary.
    pub async fn get(&self, tenant: Tenant, run_key: &str) -> Result<RunRecord, DomainError> {
        self.folder.catch_up(tenant.project_id).await?;
        find_or_not_found(&self.db, tenant.project_id, run_key).await
    }

    /// A run's open holds at `now`, oldest first, and what its steps cost above the holds they
    /// settled.
    pub async fn holds(
        &self,
        tenant: Tenant,
        run_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Hold>, Usd), DomainError> {
        let open = holds::open_of_run(&self.db, tenant.project_id, run_key, now).await?;
        let overrun = holds::run_overrun(&self.db, tenant.project_id, run_key).await?;
        Ok((open, overrun))
    }

    /// One page of runs and the token of the next (empty at the end).
    pub async fn list(
        &self,
        tenant: Tenant,
        filter: RunFilter,
        page_size: i32,
        token: &str,
    ) -> Result<(Vec<RunRecord>, String), DomainError> {
        self.folder.catch_up(tenant.project_id).await?;
        let fingerprint = format!("{filter:?}");
        let invalid = || {
            DomainError::Invalid(vec![FieldViolation::new(
                "page_token",
                "not a page token of this list",
            )])
        };
        let after = page_token::decode(token, &fingerprint)
            .map_err(|violation| DomainError::Invalid(vec![violation]))?
            .map(|cursor| decode_cursor(&cursor, filter.by_cost).ok_or_else(invalid))
            .transpose()?;
        let size = PAGE_LIMITS.size(page_size);
        let now = store::now();
        let mut runs = store::runs::list(
            &self.db,
            tenant.project_id,
            &filter,
            after.as_ref(),
            size + 1,
            &self.settings,
            now,
        )
        .await?;
        let next = if runs.len() as u64 > size {
            runs.truncate(size as usize);
            runs.last()
                .map(|last| page_token::encode(&encode_cursor(last, filter.by_cost), &fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok((runs, next))
    }
}

fn same_run(existing: RunRecord, asked: &StartRun) -> Result<(RunRecord, bool), DomainError> {
    if existing.customer_id != asked.customer.id || existing.agent_code != asked.agent_code {
        return Err(DomainError::AlreadyExists {
            what: "run",
            id: format!(
                "{} (for customer {:?} and agent {:?})",
                existing.run_key, existing.customer_id, existing.agent_code
            ),
        });
    }
    Ok((existing, false))
}

async fn find_or_not_found(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    run_key: &str,
) -> Result<RunRecord, DomainError> {
    store::runs::find(db, project_id, run_key)
        .await?
        .ok_or_else(|| DomainError::NotFound {
            what: "run",
            id: run_key.to_owned(),
        })
}

fn encode_cursor(run: &RunRecord, by_cost: bool) -> String {
    if by_cost {
        format!("{}|{}", run.total_cost.e10(), run.id)
    } else {
        format!("{}|{}", run.start_time.to_rfc3339(), run.id)
    }
}

fn decode_cursor(cursor: &str, by_cost: bool) -> Option<RunCursor> {
    let (value, id) = cursor.split_once('|')?;
    let id = Uuid::parse_str(id).ok()?;
    if by_cost {
        Some(RunCursor::Cost(value.parse().ok()?, id))
    } else {
        Some(RunCursor::Time(
            DateTime::parse_from_rfc3339(value)
                .ok()?
                .with_timezone(&Utc),
            id,
        ))
    }
}
