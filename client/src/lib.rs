//! The Rust client of Tally: [`Client`] for typed calls to every service with the API key attached,
//! and [`Recorder`] for recording events in the background without ever blocking the caller or
//! counting an event twice.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tally_client::{Client, Recorder, RecorderConfig, pb};
//!
//! let client = Client::new("http://127.0.0.1:50051", "sk_...")?;
//! let recorder = Recorder::new(client.clone(), RecorderConfig::default());
//! recorder.record(pb::EventRecord {
//!     agent_code: "support_reply".into(),
//!     ..Default::default()
//! })?;
//! recorder.shutdown().await; // sends what is buffered
//! # Ok(()) }
//! ```

mod client;
pub mod pb;
mod recorder;

pub use client::{ApiKey, Client, ConnectError};
pub use recorder::{RecordError, Recorder, RecorderConfig, RecorderStats};
