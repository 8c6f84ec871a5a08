//! Records cost events: one code path for `RecordEvent`, `RecordBatch` and every batch of a
//! `RecordEvents` stream. Batches of one project that arrive while earlier ones are being written
//! are written together (`ingest_groups`): one transaction for the group (events, lines, items,
//! and the running totals with them), committed before any result is returned. A record never
//! harms the others: each gets its own result, a group that fails as a whole is written again
//! batch by batch, and a batch that fails record by record.

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    fold::Folder,
    ingest_batch::{BatchWriter, Received},
    ingest_groups::{Groups, Owners},
    price_book::PriceBook,
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::{EventInput, EventStatus},
        ledger::PricedEvent,
        run_flags::FlagSettings,
        tenant::Tenant,
    },
    health::DatabaseReady,
    store::{self, StoreError},
    telemetry::metrics,
};

/// What became of one record.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordOutcome {
    /// Committed now, or earlier under the same idempotency key (`duplicate`).
    Stored { event: PricedEvent, duplicate: bool },
    /// Not stored: every violation, with its path in the record.
    Invalid(Vec<FieldViolation>),
    /// Not stored: the server failed on this record; safe to send again.
    Failed,
}

/// The outcomes of a batch's records, by index; `Err` when nothing of the batch was stored.
pub(super) type Answer = Result<Vec<(usize, RecordOutcome)>, DomainError>;

/// How often a write is tried again after a conflict with a concurrent writer.
const CONFLICT_RETRIES: usize = 5;
/// The pause before the first retry, before its jitter; it doubles with each retry.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(2);
/// The most a pause between retries can be, before its jitter.
const LAST_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Records events for projects.
pub struct IngestService {
    groups: Arc<Groups>,
    ready: DatabaseReady,
}

impl IngestService {
    /// Writes through `db`; refuses at once while `ready` says the database is known down.
    pub fn new(
        db: DatabaseConnection,
        prices: Arc<PriceBook>,
        flags: FlagSettings,
        ready: DatabaseReady,
        folder: Arc<Folder>,
    ) -> Self {
        let writer = BatchWriter {
            db,
            prices,
            flags,
            folder,
        };
        Self {
            groups: Arc::new(Groups::new(writer)),
            ready,
        }
    }

    /// Stores a batch and answers each record in order. `Err` only when the database cannot be
    /// reached (then nothing was stored and the whole batch may be sent again).
    pub async fn record(
        &self,
        tenant: Tenant,
        records: Vec<Result<EventInput, Vec<FieldViolation>>>,
    ) -> Result<Vec<RecordOutcome>, DomainError> {
        // A stream opened before an outage sends its batches past the auth layer's check: each is
        // refused here rather than waiting out the pool's connection timeout.
        if !self.ready.get() {
            return Err(DomainError::Unavailable(
                "the database is known down".into(),
            ));
        }
        metrics::instruments()
            .batch_size
            .record(u64::try_from(records.len()).unwrap_or(u64::MAX), &[]);
        let time = store::now();
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; records.len()];
        let mut valid = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            match record {
                Ok(input) => valid.push(Received { index, time, input }),
                Err(violations) => outcomes[index] = Some(RecordOutcome::Invalid(violations)),
            }
        }
        if !valid.is_empty() {
            let written = match self.groups.submit(tenant.project_id, valid).await {
                Ok(written) => written,
                Err(error) => {
                    let count = outcomes.iter().filter(|outcome| outcome.is_none()).count();
                    metrics::events_recorded("unavailable", u64::try_from(count).unwrap_or(0));
                    count_outcomes(outcomes.iter().flatten());
                    return Err(error);
                }
            };
            for (index, outcome) in written {
                outcomes[index] = Some(outcome);
            }
        }
        let outcomes: Vec<RecordOutcome> = outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(RecordOutcome::Failed))
            .collect();
        count_outcomes(&outcomes);
        Ok(outcomes)
    }
}

/// Counts records by what became of them (`tally.events.recorded`).
fn count_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a RecordOutcome>) {
    let mut counts: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for outcome in outcomes {
        *counts.entry(outcome_label(outcome)).or_default() += 1;
    }
    for (status, count) in counts {
        metrics::events_recorded(status, count);
    }
}

/// The `status` attribute of a record's outcome: the stored event's status, or what kept it out.
fn outcome_label(outcome: &RecordOutcome) -> &'static str {
    match outcome {
        RecordOutcome::Stored {
            duplicate: true, ..
        } => "duplicate",
        RecordOutcome::Stored { event, .. } => match event.status() {
            EventStatus::Processed => "processed",
            EventStatus::MissingVolumeData => "missing_volume_data",
            EventStatus::NeedsCostBackfill => "needs_cost_backfill",
        },
        RecordOutcome::Invalid(_) => "invalid",
        RecordOutcome::Failed => "failed",
    }
}

/// Writes the batches of a group: in one transaction when it can; when that fails (other than
/// for want of the database), each batch on its own, so that one cannot fail another.
pub(super) async fn write_group(
    writer: &BatchWriter,
    project_id: Uuid,
    batches: Vec<Vec<Received>>,
) -> Vec<Answer> {
    if batches.len() == 1 {
        let batch = batches.into_iter().next().unwrap_or_default();
        return vec![write_with_fallback(writer, project_id, &batch).await];
    }
    let (owners, records) = Owners::merge(batches);
    match write_retrying(writer, project_id, &records).await {
        Ok(outcomes) => owners.answers(outcomes).into_iter().map(Ok).collect(),
        Err(StoreError::Unavailable(error)) => (0..owners.batches())
            .map(|_| Err(DomainError::Unavailable(error.to_string().into())))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, batches = owners.batches(), "group failed; writing its batches one by one");
            let mut answers = Vec::with_capacity(owners.batches());
            for batch in owners.split(records) {
                answers.push(write_with_fallback(writer, project_id, &batch).await);
            }
            answers
        }
    }
}

/// Writes a batch; when it fails (other than for want of the database), each record alone, so
/// that the others are still stored.
async fn write_with_fallback(
    writer: &BatchWriter,
    project_id: Uuid,
    records: &[Received],
) -> Answer {
    let error = match write_retrying(writer, project_id, records).await {
        Ok(outcomes) => return Ok(outcomes),
        Err(StoreError::Unavailable(error)) => {
            return Err(StoreError::Unavailable(error).into());
        }
        Err(error) => error,
    };
    if records.len() == 1 {
        return Ok(vec![(records[0].index, record_failed(&records[0], error))]);
    }
    tracing::warn!(%error, records = records.len(), "batch failed; storing its records one by one");
    one_by_one(records, |record| {
        write_retrying(writer, project_id, std::slice::from_ref(record))
    })
    .await
}

/// Writes each record alone with `write`. When the database goes away part way, the batch fails
/// as a whole (`Err`: nothing stored) only while none of its records was stored; after that, the
/// records not written yet are answered `Failed` (not stored, safe to send again) beside those
/// stored, so that a client sending the batch again cannot store a record without a key twice.
async fn one_by_one<'a, F, Fut>(records: &'a [Received], mut write: F) -> Answer
where
    F: FnMut(&'a Received) -> Fut,
    Fut: Future<Output = Result<Vec<(usize, RecordOutcome)>, StoreError>>,
{
    let mut outcomes = Vec::with_capacity(records.len());
    for (position, record) in records.iter().enumerate() {
        match write(record).await {
            Ok(mut outcome) => outcomes.append(&mut outcome),
            Err(StoreError::Unavailable(error)) => {
                let stored = outcomes.iter().any(|(_, outcome)| {
                    matches!(
                        outcome,
                        RecordOutcome::Stored {
                            duplicate: false,
                            ..
                        }
                    )
                });
                if !stored {
                    return Err(StoreError::Unavailable(error).into());
                }
                tracing::error!(%error, index = record.index, "database unavailable; the batch's later records are not stored");
                outcomes.extend(
                    records[position..]
                        .iter()
                        .map(|record| (record.index, RecordOutcome::Failed)),
                );
                break;
            }
            Err(error) => outcomes.push((record.index, record_failed(record, error))),
        }
    }
    Ok(outcomes)
}

/// The outcome of a record that failed alone: refused when its costs would carry a running total
/// past its limit, else a fault of ours.
fn record_failed(record: &Received, error: StoreError) -> RecordOutcome {
    if let StoreError::OutOfRange(error) = &error {
        tracing::warn!(%error, index = record.index, "record refused: a running total would overflow");
        return RecordOutcome::Invalid(vec![FieldViolation::new(
            record.input.shape.lines_path(),
            "the running totals this record adds to (the month's spend of its customer, its run, \
             its hour) would pass 922337203 USD, the most a total can hold",
        )]);
    }
    tracing::error!(%error, index = record.index, "record failed");
    RecordOutcome::Failed
}

/// Writes `records`, trying again after a conflict with a concurrent writer (a key taken
/// meanwhile, a deadlock, a serialization failure, a lock held too long): each try reads again
/// what is stored, so a copy of a record stored meanwhile becomes its duplicate.
async fn write_retrying(
    writer: &BatchWriter,
    project_id: Uuid,
    records: &[Received],
) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
    retrying_conflicts(|| writer.write(project_id, records)).await
}

/// Runs `write` again after each retryable error, up to [`CONFLICT_RETRIES`] times, pausing as
/// [`conflict_backoff`] says; any other error, or the last conflict, is returned.
async fn retrying_conflicts<T, Write, Written>(write: Write) -> Result<T, StoreError>
where
    Write: FnMut() -> Written,
    Written: Future<Output = Result<T, StoreError>>,
{
    let result = write
        .retry(conflict_backoff())
        .when(StoreError::is_retryable)
        .notify(|error, pause| {
            tracing::debug!(%error, ?pause, "write conflicted with another; trying again");
        })
        .await;
    if let Err(error) = &result
        && error.is_retryable()
    {
        let attempts = CONFLICT_RETRIES + 1;
        tracing::warn!(%error, attempts, "write kept conflicting with others; giving up");
    }
    result
}

/// Pauses that double from [`FIRST_RETRY_PAUSE`] to [`LAST_RETRY_PAUSE`], each plus up to as much
/// again at random, so that writers that met once do not meet again.
fn conflict_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_RETRY_PAUSE)
        .with_max_delay(LAST_RETRY_PAUSE)
        .with_max_times(CONFLICT_RETRIES)
        .with_jitter()
}

#[cfg(test)]
mod tests {
    use sea_orm::DbErr;

    use super::*;
    use crate::service::ingest_groups::tests::received;

    fn stored(index: usize) -> (usize, RecordOutcome) {
        let event = PricedEvent {
            id: Uuid::nil(),
            usage_time: chrono::DateTime::UNIX_EPOCH,
            customer_id: "c".to_owned(),
            plan_name: None,
            agent_code: "a".to_owned(),
            signal_name: None,
            user_id: None,
            quantity: 1,
            run: None,
            lines: Vec::new(),
        };
        let outcome = RecordOutcome::Stored {
            event,
            duplicate: false,
        };
        (index, outcome)
    }

    fn gone() -> StoreError {
        StoreError::Unavailable(DbErr::Custom("connection refused".to_owned()))
    }

    #[test]
    fn retry_pauses_double_with_jitter_up_to_their_cap() {
        use backon::BackoffBuilder;
        for _ in 0..200 {
            let pauses: Vec<Duration> = conflict_backoff().build().collect();
            assert_eq!(pauses.len(), CONFLICT_RETRIES);
            for (retry, pause) in pauses.into_iter().enumerate() {
                let base = FIRST_RETRY_PAUSE
                    .saturating_mul(1 << retry)
                    .min(LAST_RETRY_PAUSE);
                assert!(base <= pause && pause < base * 2, "{retry}: {pause:?}");
            }
        }
        let drawn: std::collections::HashSet<Duration> = (0..50)
            .filter_map(|_| conflict_backoff().build().nth(4))
            .collect();
        assert!(drawn.len() > 1, "pauses are jittered");
    }

    fn contention() -> StoreError {
        StoreError::Contention(DbErr::Custom("deadlock detected".to_owned()))
    }

    #[tokio::test]
    async fn conflicts_are_tried_again_and_other_errors_are_not() {
        let tries = std::cell::Cell::new(0);
        let written = retrying_conflicts(|| {
            let try_number = tries.get() + 1;
            tries.set(try_number);
            async move {
                if try_number < 3 {
                    Err(contention())
                } else {
                    Ok(try_number)
                }
            }
        })
        .await;
        assert_eq!(written.expect("written on the third try"), 3);

        tries.set(0);
        let given_up = retrying_conflicts(|| {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(contention()) }
        })
        .await;
        assert!(matches!(given_up, Err(StoreError::Contention(_))));
        assert_eq!(tries.get(), CONFLICT_RETRIES + 1);

        tries.set(0);
        let failed = retrying_conflicts(|| {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(gone()) }
        })
        .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        assert_eq!(tries.get(), 1, "an unavailable database is not a conflict");
    }

    #[tokio::test]
    async fn records_after_the_database_goes_away_are_answered_not_stored() {
        let records: Vec<Received> = (0..3).map(|n| received(n, &format!("k{n}"))).collect();
        let answer = one_by_one(&records, |record| {
            let index = record.index;
            async move {
                match index {
                    0 => Ok(vec![stored(0)]),
                    _ => Err(gone()),
                }
            }
        })
        .await
        .expect("record 0 was stored, so the batch is answered record by record");
        let failed: Vec<usize> = answer
            .iter()
            .filter(|(_, outcome)| *outcome == RecordOutcome::Failed)
            .map(|(index, _)| *index)
            .collect();
        assert_eq!(failed, [1, 2]);
        assert!(matches!(answer[0], (0, RecordOutcome::Stored { .. })));
    }

    #[tokio::test]
    async fn a_batch_with_nothing_stored_fails_whole_when_the_database_goes_away() {
        let records: Vec<Received> = (0..2).map(|n| received(n, &format!("k{n}"))).collect();
        let answer = one_by_one(&records, |_| async { Err(gone()) }).await;
        assert!(
            matches!(answer, Err(DomainError::Unavailable(_))),
            "{answer:?}"
        );
    }
}
