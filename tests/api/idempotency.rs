//! Copies of one idempotency key sent at the same moment, on one server or two over one database:
//! every copy is answered with the first copy's result (`duplicate: true` on all but the one that
//! stored it), none fails, and exactly one event is stored per key.

use std::{collections::BTreeMap, sync::Arc};

use tally::pb::{self, EventRecord};
use tokio::sync::Barrier;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app, spawn_app_on},
};

/// gpt-4o-mini (catalog: 1.5e-7 USD per input token, 6e-7 per output token), 1000 input and
/// 100 output tokens: 0.00015 + 0.00006 USD.
const COST: &str = "0.0002100000";

/// The record sent under `key`, in run `run` when given: a gpt-4o-mini call of 1000 input and 100
/// output tokens.
fn record(key: &str, run: Option<&str>) -> EventRecord {
    EventRecordBuilder::new()
        .key(key)
        .run(run.unwrap_or_default())
        .build()
}

/// Checks the copies of each key: every one stored and priced, all with the first copy's event
/// id, exactly one of them not a duplicate.
fn assert_one_event_per_key(copies: &BTreeMap<String, Vec<pb::RecordResult>>) {
    for (key, results) in copies {
        for result in results {
            assert!(
                result.stored && result.status() == pb::EventStatus::Processed,
                "key {key}: every copy is stored: {result:?}"
            );
            assert_eq!(result.total_cost_usd, COST, "key {key}: {result:?}");
            assert_eq!(result.event_id, results[0].event_id, "key {key}: one event");
        }
        let firsts = results.iter().filter(|result| !result.duplicate).count();
        assert_eq!(firsts, 1, "key {key}: one copy stored, the rest duplicates");
    }
}

/// Rounds of the smallest race: each round, two batches `[R, R]` of a new key sent at once.
const ROUNDS: usize = 8;

/// Sends the rounds through `first` and `second` (the same server, or two) and checks them.
async fn race_two_batches_of_two_copies(first: &TestApp, second: &TestApp) {
    let mut copies = BTreeMap::new();
    for round in 0..ROUNDS {
        let key = format!("twice-{round}");
        let copy = || vec![record(&key, None), record(&key, None)];
        let (one, two) = tokio::join!(
            first.record_batch(copy()),
            second.record_batch_as(&first.secret_key, copy()),
        );
        copies.insert(key.clone(), one.into_iter().chain(two).collect());
    }
    assert_one_event_per_key(&copies);
    assert_eq!(first.count_events().await, ROUNDS);
    first.assert_totals_match_events().await;
}

async fn two_batches_repeating_one_key_are_both_answered_on_one_server(backend: Backend) {
    let app = spawn_app(backend).await;
    race_two_batches_of_two_copies(&app, &app).await;
}

async fn two_batches_repeating_one_key_are_both_answered_on_two_servers(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_app_on(first.database.alias()).await;
    race_two_batches_of_two_copies(&first, &second).await;
}

/// Callers, rounds, and the keys of a round that every caller sends at once.
const CALLERS: usize = 8;
const RACES: usize = 5;
const KEYS_PER_RACE: usize = 3;

/// Caller `caller`'s copies in race `race`: every key of the race twice, shuffled (Fisher–Yates
/// on a small linear congruential generator seeded by caller and race).
fn copies(caller: usize, race: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..2 * KEYS_PER_RACE)
        .map(|n| format!("same-{race}-{}", n % KEYS_PER_RACE))
        .collect();
    let mut state = (caller * RACES + race) as u64 + 1;
    for last in (1..keys.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        keys.swap(last, (state >> 33) as usize % (last + 1));
    }
    keys
}

/// Caller `caller` sends its copies of each race as soon as every caller is ready: half the
/// callers in one RecordBatch, the others as RecordEvent calls; the results by key. Keys of the
/// even races are in a run, so that starting it races too.
async fn send_races(
    app: &TestApp,
    key: &str,
    caller: usize,
    start: &Barrier,
) -> Vec<(String, pb::RecordResult)> {
    let mut results = Vec::new();
    for race in 0..RACES {
        let run = format!("run-{race}");
        let run = (race % 2 == 0).then_some(run.as_str());
        let keys = copies(caller, race);
        start.wait().await;
        if (caller + race).is_multiple_of(2) {
            let records = keys.iter().map(|name| record(name, run)).collect();
            let answered = app.record_batch_as(key, records).await;
            results.extend(keys.into_iter().zip(answered));
            continue;
        }
        for name in keys {
            let result = app.record_one_as(key, record(&name, run)).await;
            results.push((name, result));
        }
    }
    results
}

async fn eight_callers_sending_the_same_keys_get_one_event_each(backend: Backend) {
    let first = Arc::new(spawn_app(backend).await);
    let second = Arc::new(spawn_app_on(first.database.alias()).await);
    let start = Arc::new(Barrier::new(CALLERS));
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        // Three callers on each server, and two more on the first.
        let app = if caller % 3 == 2 { &second } else { &first }.clone();
        let key = first.secret_key.clone();
        let start = start.clone();
        callers.push(tokio::spawn(async move {
            send_races(&app, &key, caller, &start).await
        }));
    }
    let mut copies: BTreeMap<String, Vec<pb::RecordResult>> = BTreeMap::new();
    for caller in callers {
        for (key, result) in caller.await.expect("caller") {
            copies.entry(key).or_default().push(result);
        }
    }
    assert_eq!(copies.len(), RACES * KEYS_PER_RACE);
    assert!(copies.values().all(|results| results.len() == 2 * CALLERS));
    assert_one_event_per_key(&copies);
    assert_eq!(first.count_events().await, RACES * KEYS_PER_RACE);
    first.assert_totals_match_events().await;
}

crate::on_both_databases!(
    two_batches_repeating_one_key_are_both_answered_on_one_server,
    two_batches_repeating_one_key_are_both_answered_on_two_servers,
    eight_callers_sending_the_same_keys_get_one_event_each,
);
