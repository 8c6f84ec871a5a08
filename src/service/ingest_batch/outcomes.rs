//! The answer to every record of a batch once its events are written: stored, refused, or a
//! duplicate given the outcome of its first copy.

use std::collections::HashMap;

use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{Batch, Duplicate};
use crate::{
    domain::ledger::PricedEvent,
    service::ingest::RecordOutcome,
    store::{self, StoreError},
};

impl Batch<'_> {
    /// Every outcome of the batch: stored events, refused records, and the first results of
    /// duplicates. A copy of an earlier record of the batch gets that record's outcome, whatever
    /// became of it (stored now, found stored by another writer meanwhile, or refused).
    pub(super) async fn finish(
        mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let mut outcomes: HashMap<usize, RecordOutcome> =
            std::mem::take(&mut self.outcomes).into_iter().collect();
        for (index, event) in std::mem::take(&mut self.events) {
            if self.inserted.contains(&event.id) {
                let stored = RecordOutcome::Stored {
                    event,
                    duplicate: false,
                };
                outcomes.insert(index, stored);
            }
        }
        let stored_ids: Vec<Uuid> = self
            .duplicates
            .iter()
            .filter_map(|(_, duplicate)| match duplicate {
                Duplicate::Stored(id) => Some(*id),
                Duplicate::InBatch(_) => None,
            })
            .collect();
        let earlier: HashMap<Uuid, PricedEvent> = store::events::load(txn, project_id, &stored_ids)
            .await?
            .into_iter()
            .map(|stored| (stored.priced.id, stored.priced))
            .collect();
        let mut copies = Vec::new();
        for (index, duplicate) in std::mem::take(&mut self.duplicates) {
            match duplicate {
                Duplicate::Stored(id) => {
                    let Some(event) = earlier.get(&id).cloned() else {
                        // Events are never deleted: the one a key named must load.
                        tracing::error!(event_id = %id, "the first copy of a duplicate record is missing");
                        outcomes.insert(index, RecordOutcome::Failed);
                        continue;
                    };
                    let outcome = RecordOutcome::Stored {
                        event,
                        duplicate: true,
                    };
                    outcomes.insert(index, outcome);
                }
                Duplicate::InBatch(first) => copies.push((index, first)),
            }
        }
        for (index, first) in copies {
            let outcome = match outcomes.get(&first) {
                Some(RecordOutcome::Stored { event, .. }) => RecordOutcome::Stored {
                    event: event.clone(),
                    duplicate: true,
                },
                Some(other) => other.clone(),
                None => {
                    tracing::error!(index, first, "a copy's first record has no outcome");
                    RecordOutcome::Failed
                }
            };
            outcomes.insert(index, outcome);
        }
        Ok(outcomes.into_iter().collect())
    }
}
