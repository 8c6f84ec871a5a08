//! The generated `tally.v1` contract: messages, servers and clients.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("tally.v1");

/// The encoded descriptors of `proto/tally/v1`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tally_descriptor");
