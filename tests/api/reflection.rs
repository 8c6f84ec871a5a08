//! Server reflection v1 and v1alpha: grpcurl and buf curl list and describe every service with no
//! proto files at hand, and need no key to do it.

use tokio_stream::StreamExt;
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::{Backend, spawn_app};

const EXPECTED: [&str; 9] = [
    "grpc.health.v1.Health",
    "tally.v1.Budgets",
    "tally.v1.Directory",
    "tally.v1.Ingest",
    "tally.v1.Pricing",
    "tally.v1.Reports",
    "tally.v1.Runs",
    "tally.v1.Webhooks",
    "grpc.reflection.v1.ServerReflection",
];

async fn v1_lists_and_describes_every_service(backend: Backend) {
    use v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app(backend).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("tally.v1.Budgets".to_owned()),
        MessageRequest::FileContainingSymbol("tally.v1.Ingest.RecordBatch".to_owned()),
    ]
    .map(|request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    });
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection answers without a key")
        .into_inner();

    let Some(MessageResponse::ListServicesResponse(list)) = responses
        .next()
        .await
        .expect("a response")
        .expect("ok")
        .message_response
    else {
        panic!("expected the list of services");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    for expected in EXPECTED {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    for _ in 0..2 {
        let Some(MessageResponse::FileDescriptorResponse(files)) = responses
            .next()
            .await
            .expect("a response")
            .expect("ok")
            .message_response
        else {
            panic!("expected file descriptors");
        };
        assert!(!files.file_descriptor_proto.is_empty());
    }
}

async fn v1alpha_lists_every_service(backend: Backend) {
    use v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app(backend).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers without a key")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses
        .next()
        .await
        .expect("a response")
        .expect("ok")
        .message_response
    else {
        panic!("expected the list of services");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    for expected in &EXPECTED[..7] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
}

crate::on_both_databases!(
    v1_lists_and_describes_every_service,
    v1alpha_lists_every_service
);
