//! Group commit. A batch that arrives while its project's writers are busy waits in the project's
//! queue; the next free writer takes every batch waiting (up to [`MAX_GROUP_RECORDS`] records) and
//! writes them together, so that many small concurrent batches cost the database about what one
//! large one does (one set of lookups, statements and commits, and the running totals they share
//! summed before they are written). A batch alone is written at once: grouping adds no wait.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    ingest::{Answer, RecordOutcome, write_group},
    ingest_batch::{BatchWriter, Received},
};
use tracing::Instrument as _;

use crate::{domain::DomainError, telemetry::call::CallProject, telemetry::metrics};

/// The most records written in one group (whole batches: a group holds at least one).
pub const MAX_GROUP_RECORDS: usize = 1_000;
/// Writers of one project at a time, so that one group's database work overlaps other groups'
/// reads, pricing and commits: half the cores, at least three (on two cores three kept both busier
/// than two, BENCHMARKS.md) and at most eight (each holds a pooled connection while it writes).
/// Writers share no row since the running totals are folded apart (`fold`), so more cores take more.
pub fn writers_per_project() -> usize {
    static WRITERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WRITERS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        (cores / 2).clamp(3, 8)
    })
}

/// A batch waiting for a writer, and where its answer goes.
struct Waiting {
    records: Vec<Received>,
    answer: oneshot::Sender<Answer>,
    /// The span of the call that sent it: the write's span continues the first batch's trace.
    span: tracing::Span,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    writers: usize,
}

/// The queues of the projects being written to, and what writes them.
pub struct Groups {
    writer: Arc<BatchWriter>,
    queues: Mutex<HashMap<Uuid, Queue>>,
}

impl Groups {
    pub(super) fn new(writer: BatchWriter) -> Self {
        Self {
            writer: Arc::new(writer),
            queues: Mutex::default(),
        }
    }

    /// Queues a batch (at once, so batches are taken in the order submitted) and waits for its
    /// answer.
    pub(super) fn submit(
        self: &Arc<Self>,
        project_id: Uuid,
        records: Vec<Received>,
    ) -> impl Future<Output = Answer> + use<> {
        let (answer, answered) = oneshot::channel();
        let start_writer = {
            let mut queues = self.lock();
            let queue = queues.entry(project_id).or_default();
            queue.waiting.push_back(Waiting {
                records,
                answer,
                span: tracing::Span::current(),
            });
            let start = queue.writers < writers_per_project();
            if start {
                queue.writers += 1;
            }
            start
        };
        if start_writer {
            tokio::spawn(self.clone().drain(project_id));
        }
        async move {
            answered.await.unwrap_or_else(|_| {
                Err(DomainError::Internal(
                    "the batch's writer stopped before answering".into(),
                ))
            })
        }
    }

    /// Writes groups until the project's queue is empty. Runs as its own task: a caller that goes
    /// away does not stop the writing of the batches of others.
    async fn drain(self: Arc<Self>, project_id: Uuid) {
        loop {
            let group = self.take(project_id);
            if group.is_empty() {
                return;
            }
            let span = write_span(project_id, &group);
            let (batches, answers): (Vec<_>, Vec<_>) = group
                .into_iter()
                .map(|waiting| (waiting.records, waiting.answer))
                .unzip();
            let instruments = metrics::instruments();
            instruments
                .group_size
                .record(u64::try_from(batches.len()).unwrap_or(u64::MAX), &[]);
            let started = std::time::Instant::now();
            let written = {
                let writer = self.writer.clone();
                let write = CallProject::of(project_id)
                    .scope(async move { write_group(&writer, project_id, batches).await })
                    .instrument(span);
                // Its own task, so that a panic fails this group's batches and not the queue.
                tokio::spawn(write).await
            };
            instruments
                .write_duration
                .record(started.elapsed().as_secs_f64(), &[]);
            match written {
                Ok(results) => {
                    for (answer, result) in answers.into_iter().zip(results) {
                        // The caller may have gone away; the batch is stored all the same.
                        let _ = answer.send(result);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "writing a group of batches panicked");
                    for answer in answers {
                        let _ = answer.send(Err(DomainError::Internal(error.to_string().into())));
                    }
                }
            }
        }
    }

    /// The next group: the batches waiting, oldest first, up to [`MAX_GROUP_RECORDS`] records.
    /// Empty when none waits; the writer is then gone.
    fn take(&self, project_id: Uuid) -> Vec<Waiting> {
        let mut queues = self.lock();
        let Some(queue) = queues.get_mut(&project_id) else {
            return Vec::new();
        };
        let mut group = Vec::new();
        let mut records = 0;
        while let Some(next) = queue.waiting.front() {
            if !group.is_empty() && records + next.records.len() > MAX_GROUP_RECORDS {
                break;
            }
            records += next.records.len();
            group.extend(queue.waiting.pop_front());
        }
        if group.is_empty() {
            queue.writers -= 1;
            if queue.writers == 0 {
                queues.remove(&project_id);
            }
        }
        group
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Queue>> {
        // The lock is held for queue bookkeeping only, which cannot leave it half done.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where each record of a group came from, by its index in the group: its batch and its index
/// there. The records of a group are numbered in one sequence, batch after batch.
pub(super) struct Owners(Vec<(usize, usize)>);

impl Owners {
    /// The records of `batches` in one sequence, renumbered.
    pub(super) fn merge(batches: Vec<Vec<Received>>) -> (Self, Vec<Received>) {
        let mut owners = Vec::new();
        let mut records = Vec::new();
        for (batch, received) in batches.into_iter().enumerate() {
            for mut record in received {
                owners.push((batch, record.index));
                record.index = owners.len() - 1;
                records.push(record);
            }
        }
        (Self(owners), records)
    }

    pub(super) fn batches(&self) -> usize {
        self.0.last().map_or(0, |(batch, _)| batch + 1)
    }

    /// The group's outcomes as each batch's, with the batch's own indexes.
    pub(super) fn answers(
        &self,
        outcomes: Vec<(usize, RecordOutcome)>,
    ) -> Vec<Vec<(usize, RecordOutcome)>> {
        let mut answers = vec![Vec::new(); self.batches()];
        for (index, outcome) in outcomes {
            let (batch, own) = self.0[index];
            answers[batch].push((own, outcome));
        }
        answers
    }

    /// The group's records back in their batches, with their own indexes.
    pub(super) fn split(&self, records: Vec<Received>) -> Vec<Vec<Received>> {
        let mut batches: Vec<Vec<Received>> = (0..self.batches()).map(|_| Vec::new()).collect();
        for mut record in records {
            let (batch, own) = self.0[record.index];
            record.index = own;
            batches[batch].push(record);
        }
        batches
    }
}

/// The span of a group's write: under the first batch's call, following the other calls.
fn write_span(project_id: Uuid, group: &[Waiting]) -> tracing::Span {
    let records: usize = group.iter().map(|waiting| waiting.records.len()).sum();
    let first = group.first().map(|waiting| waiting.span.clone());
    let span = tracing::info_span!(
        parent: first.as_ref().and_then(tracing::Span::id),
        "ingest.write",
        tally.project = %project_id,
        batches = group.len(),
        records,
    );
    for waiting in group.iter().skip(1) {
        span.follows_from(&waiting.span);
    }
    span
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::event::{EventInput, Shape};

    pub(in crate::service) fn received(index: usize, key: &str) -> Received {
        Received {
            index,
            time: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            input: EventInput {
                idempotency_key: Some(key.to_owned()),
                customer: None,
                user_id: None,
                agent_code: None,
                signal_name: None,
                quantity: 1,
                run_id: None,
                hold_id: None,
                usage_time: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
                metadata: None,
                shape: Shape::Single,
                lines: Vec::new(),
            },
        }
    }

    fn keys(records: &[Received]) -> Vec<(usize, &str)> {
        records
            .iter()
            .map(|r| (r.index, r.input.idempotency_key.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn a_group_numbers_records_in_one_sequence_and_gives_each_batch_its_own_back() {
        // Batch 0 had an invalid record at index 1 (not sent to the writer).
        let batches = vec![
            vec![received(0, "a0"), received(2, "a2")],
            vec![received(0, "b0")],
            vec![received(0, "c0"), received(1, "c1")],
        ];
        let (owners, records) = Owners::merge(batches);
        assert_eq!(owners.batches(), 3);
        assert_eq!(
            keys(&records),
            [(0, "a0"), (1, "a2"), (2, "b0"), (3, "c0"), (4, "c1")]
        );

        let outcomes = (0..5).rev().map(|i| (i, RecordOutcome::Failed)).collect();
        let answers = owners.answers(outcomes);
        let indexes: Vec<Vec<usize>> = answers
            .iter()
            .map(|answer| {
                let mut own: Vec<usize> = answer.iter().map(|(i, _)| *i).collect();
                own.sort_unstable();
                own
            })
            .collect();
        assert_eq!(indexes, [vec![0, 2], vec![0], vec![0, 1]]);

        let split = owners.split(records);
        assert_eq!(keys(&split[0]), [(0, "a0"), (2, "a2")]);
        assert_eq!(keys(&split[1]), [(0, "b0")]);
        assert_eq!(keys(&split[2]), [(0, "c0"), (1, "c1")]);
    }
}
