//! The generated `tally.v1` messages and clients, from the `tally-proto` crate.

pub use tally_proto::*;
