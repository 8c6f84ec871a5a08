//! The generated `tally.v1` contract (messages, servers, descriptors), from the `tally-proto` crate.

pub use tally_proto::*;
