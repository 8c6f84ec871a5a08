//! Tally: a self-hosted gRPC service that meters what AI work costs and earns.

pub mod admin;
pub mod config;
pub mod console;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod pb;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
