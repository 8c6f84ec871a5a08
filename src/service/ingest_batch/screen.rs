//! The reads before the write transaction and the checks of each record: the idempotency keys
//! already stored, the runs named, the prices of every line, each record's attribution, and the
//! copies of an earlier record of the batch.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::{Accepted, Batch, BatchWriter, Duplicate, Received};
use crate::{
    service::{
        ingest::RecordOutcome,
        ingest_attribution::{Attribution, attribute},
        line_pricing::price_lines,
        price_book::ProjectPrices,
    },
    store::{
        StoreError,
        ingest::{self as writes, RunRef},
    },
};

impl BatchWriter {
    /// Reads what the checks need and checks every record; returns the batch (each record
    /// accepted, refused or a duplicate) and the runs known before it.
    pub(super) async fn screen<'a>(
        &self,
        project_id: Uuid,
        records: &'a [Received],
    ) -> Result<(Batch<'a>, HashMap<String, RunRef>), StoreError> {
        let db = &self.db;
        // Reads first, outside the write transaction: what is already stored, the runs named, and
        // the prices of every line. A writer that stores the same keys or starts the same runs
        // meanwhile is caught by the unique indexes when they are written, as inside a transaction.
        let keys: Vec<String> = records
            .iter()
            .filter_map(|r| r.input.idempotency_key.clone())
            .collect();
        let run_keys: Vec<String> = records
            .iter()
            .filter_map(|r| r.input.run_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let names = records
            .iter()
            .flat_map(|r| {
                r.input
                    .lines
                    .iter()
                    .map(|line| (line.provider.clone(), line.model.clone()))
            })
            .collect();
        // Independent reads, each on its own pooled connection: one round trip's wait, not three.
        let (stored_keys, known_runs, prices) = tokio::try_join!(
            writes::events_by_key(db, project_id, &keys),
            writes::find_runs(db, project_id, &run_keys),
            self.prices.for_project(db, project_id, &names),
        )?;
        let batch = check_records(records, &stored_keys, &known_runs, &prices);
        Ok((batch, known_runs))
    }
}

/// Checks the records in order: a key stored before is a duplicate of that event; a record whose
/// attribution or counts are wrong is refused; a key seen earlier in the batch is a copy of that
/// record (once the copy passed the checks itself); the rest are accepted, and a record that starts
/// a run attributes the later records of that run.
fn check_records<'a>(
    records: &'a [Received],
    stored_keys: &HashMap<String, Uuid>,
    known_runs: &HashMap<String, RunRef>,
    prices: &ProjectPrices,
) -> Batch<'a> {
    let mut batch = Batch::default();
    let mut seen_keys: HashMap<&str, usize> = HashMap::new();
    let mut runs_seen: HashMap<String, Attribution> = known_runs
        .iter()
        .map(|(key, run)| {
            let attribution = Attribution {
                customer_id: run.customer_id.clone(),
                agent_code: run.agent_code.clone(),
                user_id: run.user_id.clone(),
                starts_run: false,
            };
            (key.clone(), attribution)
        })
        .collect();
    for Received {
        index,
        time: received,
        input,
    } in records
    {
        if let Some(key) = input.idempotency_key.as_deref()
            && let Some(event_id) = stored_keys.get(key)
        {
            batch
                .duplicates
                .push((*index, Duplicate::Stored(*event_id)));
            continue;
        }
        // A run is known from before the batch, or started by an earlier record of it.
        let run = input.run_id.as_ref().and_then(|key| runs_seen.get(key));
        let attribution = match attribute(input, run) {
            Ok(attribution) => attribution,
            Err(violations) => {
                batch
                    .outcomes
                    .push((*index, RecordOutcome::Invalid(violations)));
                continue;
            }
        };
        let lines = match price_lines(&input.lines, prices, input.usage_time, |index| {
            input.shape.line_path(index)
        }) {
            Ok(lines) => lines,
            Err(violations) => {
                batch
                    .outcomes
                    .push((*index, RecordOutcome::Invalid(violations)));
                continue;
            }
        };
        if let Some(key) = input.idempotency_key.as_deref() {
            match seen_keys.get(key) {
                Some(first) => {
                    batch.duplicates.push((*index, Duplicate::InBatch(*first)));
                    continue;
                }
                None => {
                    seen_keys.insert(key, *index);
                }
            }
        }
        if attribution.starts_run
            && let Some(key) = &input.run_id
        {
            runs_seen
                .entry(key.clone())
                .or_insert_with(|| attribution.clone());
        }
        batch.accepted.push(Accepted {
            index: *index,
            received: *received,
            input,
            attribution,
            lines,
        });
    }
    batch
}
