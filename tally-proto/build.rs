//! Compiles the `tally.v1` contract once, with the pure-Rust `protox` compiler (no system `protoc`),
//! and generates from it: the messages always, the servers with the `server` feature, the clients
//! with the `client` feature, and the file descriptor set that server reflection serves.
//!
//! The servers and the clients are generated apart from the messages (which they name through
//! `extern_path`) so that each gets its own codec: the servers `crate::codec::TallyCodec`, the
//! clients tonic's prost codec, whichever features are on.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("../proto");
    let mut files: Vec<PathBuf> = fs::read_dir(proto_dir.join("tally/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed=../proto");

    let descriptors = protox::compile(&files, [&proto_dir])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("tally_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    let generated = |part: &str| -> std::io::Result<PathBuf> {
        let dir = out_dir.join(part);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    };
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .out_dir(generated("messages")?)
        .compile_fds(descriptors.clone())?;
    if env::var_os("CARGO_FEATURE_SERVER").is_some() {
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(false)
            .generate_default_stubs(true)
            .extern_path(".tally.v1", "crate")
            // Decode errors are the caller's (`INVALID_ARGUMENT`), not tonic's `INTERNAL`.
            .codec_path("crate::codec::TallyCodec")
            .out_dir(generated("server")?)
            .compile_fds(descriptors.clone())?;
    }
    if env::var_os("CARGO_FEATURE_CLIENT").is_some() {
        tonic_prost_build::configure()
            .build_server(false)
            .build_client(true)
            .extern_path(".tally.v1", "crate")
            .out_dir(generated("client")?)
            .compile_fds(descriptors)?;
    }
    Ok(())
}
