//! The generated `tally.v1` contract, compiled once for the server and the client: the messages,
//! the servers (feature `server`), the clients (feature `client`) and the encoded descriptors.

mod messages {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/messages/tally.v1.rs"));
}
pub use messages::*;

#[cfg(feature = "server")]
mod servers {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/server/tally.v1.rs"));
}
#[cfg(feature = "server")]
pub use servers::*;

#[cfg(feature = "client")]
mod clients {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/client/tally.v1.rs"));
}
#[cfg(feature = "client")]
pub use clients::*;

#[cfg(feature = "server")]
pub mod codec;

/// The encoded descriptors of `proto/tally/v1`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tally_descriptor.bin"));
