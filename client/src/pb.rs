//! The generated `tally.v1` messages and clients.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("tally.v1");
