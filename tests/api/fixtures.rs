//! What the API tests send most: [`EventRecordBuilder`] for the records, and `TestApp` methods that
//! send them and unwrap the answer (zero2prod's `TestApp` methods in `helpers.rs`). The methods check
//! only what their name says (`record_all`: every record stored); a test checks the rest itself.

use prost_types::Timestamp;
use tally::pb::{
    CustomerAttribution, EventRecord, Plan, RecordBatchRequest, RecordEventRequest, RecordResult,
    ServiceUsage, event_record::Usage,
};

use crate::helpers::TestApp;

/// The most records one `RecordBatch` takes (the contract's limit).
const BATCH_LIMIT: usize = 100;

/// An `EventRecord` of one service line. By default: customer `acme`, agent `writer`, and an
/// openai/gpt-4o-mini call of 1,000 input and 100 output tokens (catalog/litellm_prices.json:
/// 1.5e-7 USD per input token, 6e-7 per output token, so 0.00015 + 0.00006 = 0.00021 USD); no
/// idempotency key, run, usage time or signal.
#[derive(Clone, Debug)]
pub struct EventRecordBuilder {
    record: EventRecord,
}

impl Default for EventRecordBuilder {
    fn default() -> Self {
        Self {
            record: EventRecord {
                customer: Some(CustomerAttribution {
                    id: "acme".to_owned(),
                    ..Default::default()
                }),
                agent_code: "writer".to_owned(),
                usage: Some(Usage::Service(ServiceUsage {
                    provider: "openai".to_owned(),
                    model: "gpt-4o-mini".to_owned(),
                    input_tokens: Some(1_000),
                    output_tokens: Some(100),
                    ..Default::default()
                })),
                ..Default::default()
            },
        }
    }
}

impl EventRecordBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn key(mut self, idempotency_key: &str) -> Self {
        self.record.idempotency_key = idempotency_key.to_owned();
        self
    }

    /// The customer's id; its name and plan stay as they are.
    pub fn customer(mut self, id: &str) -> Self {
        self.customer_mut().id = id.to_owned();
        self
    }

    pub fn customer_name(mut self, name: &str) -> Self {
        self.customer_mut().name = name.to_owned();
        self
    }

    pub fn plan(mut self, plan: Option<Plan>) -> Self {
        self.customer_mut().plan = plan;
        self
    }

    pub fn agent(mut self, agent_code: &str) -> Self {
        self.record.agent_code = agent_code.to_owned();
        self
    }

    pub fn run(mut self, run_id: &str) -> Self {
        self.record.run_id = run_id.to_owned();
        self
    }

    /// The usage time (`None`: the server's now).
    pub fn at(mut self, usage_time: impl Into<Option<Timestamp>>) -> Self {
        self.record.usage_time = usage_time.into();
        self
    }

    /// A quantity of a revenue signal.
    pub fn signal(mut self, name: &str, quantity: u64) -> Self {
        self.record.signal_name = name.to_owned();
        self.record.quantity = Some(quantity);
        self
    }

    /// The provider and model of the line; its counts stay as they are.
    pub fn model(mut self, provider: &str, model: &str) -> Self {
        let service = self.service_mut();
        service.provider = provider.to_owned();
        service.model = model.to_owned();
        self
    }

    /// The input and output tokens of the line.
    pub fn tokens(mut self, input: u64, output: u64) -> Self {
        let service = self.service_mut();
        service.input_tokens = Some(input);
        service.output_tokens = Some(output);
        self
    }

    /// The one line of the record, in place of the default call.
    pub fn service(mut self, service: ServiceUsage) -> Self {
        self.record.usage = Some(Usage::Service(service));
        self
    }

    pub fn build(self) -> EventRecord {
        self.record
    }

    fn customer_mut(&mut self) -> &mut CustomerAttribution {
        self.record.customer.get_or_insert_with(Default::default)
    }

    fn service_mut(&mut self) -> &mut ServiceUsage {
        match &mut self.record.usage {
            Some(Usage::Service(service)) => service,
            other => panic!("the builder holds one service line, not {other:?}"),
        }
    }
}

impl TestApp {
    /// `RecordEvent` with the secret key: the record's result, whatever it is.
    pub async fn record_one(&self, record: EventRecord) -> RecordResult {
        self.record_one_as(&self.secret_key, record).await
    }

    /// `RecordEvent` with `key`: the record's result, whatever it is.
    pub async fn record_one_as(&self, key: &str, record: EventRecord) -> RecordResult {
        self.ingest(key)
            .record_event(RecordEventRequest {
                record: Some(record),
            })
            .await
            .expect("record event answers")
            .into_inner()
            .result
            .expect("a result")
    }

    /// One `RecordBatch` with the secret key: a result per record, whatever they are.
    pub async fn record_batch(&self, records: Vec<EventRecord>) -> Vec<RecordResult> {
        self.record_batch_as(&self.secret_key, records).await
    }

    /// One `RecordBatch` with `key`: a result per record, whatever they are.
    pub async fn record_batch_as(&self, key: &str, records: Vec<EventRecord>) -> Vec<RecordResult> {
        self.ingest(key)
            .record_batch(RecordBatchRequest { records })
            .await
            .expect("batch answers")
            .into_inner()
            .results
    }

    /// Records every record with the secret key, in `RecordBatch` calls of up to 100 (one call for
    /// 100 or fewer), checks that each one is stored, and returns the results.
    pub async fn record_all(&self, records: Vec<EventRecord>) -> Vec<RecordResult> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(BATCH_LIMIT) {
            let batch = self.record_batch(chunk.to_vec()).await;
            assert!(
                batch.iter().all(|result| result.stored),
                "every record stored: {:?}",
                batch.iter().find(|result| !result.stored)
            );
            results.extend(batch);
        }
        results
    }

    /// [`TestApp::record_all`], returning the event ids.
    pub async fn record_stored(&self, records: Vec<EventRecord>) -> Vec<String> {
        self.record_all(records)
            .await
            .into_iter()
            .map(|result| result.event_id)
            .collect()
    }
}
