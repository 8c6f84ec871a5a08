//! TLS and mutual TLS on the gRPC port, with a throwaway CA made for each test: a client that trusts
//! the CA calls over TLS; with a client CA configured, a client with a certificate from it gets in
//! and one without a certificate, or with a certificate from another CA, is refused; a plaintext
//! client cannot talk to a TLS server; and a certificate path that does not exist fails the start.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tally::{startup::App, tls::TlsFiles};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{Backend, TestApp, TestDatabase, start_server, test_settings};

/// A CA and the PEM of a server certificate (for `localhost`) and a client certificate it signed.
pub struct Pki {
    dir: tempfile::TempDir,
    pub ca_pem: String,
    client: (String, String),
}

impl Pki {
    pub fn new() -> Self {
        let ca = certificate_authority("Tally test CA");
        let dir = tempfile::tempdir().expect("temp dir");
        let (server_cert, server_key) = leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(dir.path().join("server.pem"), server_cert).expect("write");
        std::fs::write(dir.path().join("server.key"), server_key).expect("write");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        Self {
            ca_pem: ca.pem(),
            client: leaf(&ca, "client.example", ExtendedKeyUsagePurpose::ClientAuth),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn files(&self, mutual: bool) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: mutual.then(|| self.path("ca.pem")),
        }
    }
}

fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A certificate for `name` signed by `ca`, and its key, in PEM.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("signed");
    (cert.pem(), key.serialize_pem())
}

pub async fn tls_app(backend: Backend, files: TlsFiles) -> TestApp {
    let database = TestDatabase::create(backend).await;
    start_server(database, move |url| tally::config::Settings {
        tls: Some(files),
        ..test_settings(url)
    })
    .await
}

/// A channel to the app over TLS, trusting `ca_pem`, with a client identity if given.
pub async fn connect(
    app: &TestApp,
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://{}", app.address))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls config")
        .connect()
        .await
}

/// Health of the whole server over `channel`, once it is ready.
pub async fn serving(channel: Channel) -> Result<ServingStatus, tonic::Status> {
    let mut health = HealthClient::new(channel);
    for _ in 0..100 {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?
            .into_inner()
            .status();
        if status == ServingStatus::Serving {
            return Ok(status);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(ServingStatus::NotServing)
}

async fn calls_over_tls_and_not_in_plaintext(backend: Backend) {
    let pki = Pki::new();
    let app = tls_app(backend, pki.files(false)).await;
    let channel = connect(&app, &pki.ca_pem, None)
        .await
        .expect("TLS connects");
    assert_eq!(
        serving(channel).await.expect("health over TLS"),
        ServingStatus::Serving
    );

    let plaintext = Endpoint::from_shared(format!("http://{}", app.address))
        .expect("endpoint")
        .connect_lazy();
    serving(plaintext)
        .await
        .expect_err("a plaintext client cannot talk to a TLS server");

    let stranger = certificate_authority("another CA");
    connect(&app, &stranger.pem(), None)
        .await
        .expect_err("a client that does not trust the server's CA refuses it");
}

async fn mutual_tls_admits_only_clients_with_a_certificate_from_the_ca(backend: Backend) {
    let pki = Pki::new();
    let app = tls_app(backend, pki.files(true)).await;
    let channel = connect(&app, &pki.ca_pem, Some(&pki.client))
        .await
        .expect("a client with a certificate connects");
    assert_eq!(
        serving(channel).await.expect("health over mTLS"),
        ServingStatus::Serving
    );

    // The handshake fails without a client certificate, at connect or at the first call.
    let refused = match connect(&app, &pki.ca_pem, None).await {
        Err(_) => true,
        Ok(channel) => serving(channel).await.is_err(),
    };
    assert!(refused, "a client without a certificate got in");

    let stranger = certificate_authority("another CA");
    let outsider = leaf(&stranger, "outsider", ExtendedKeyUsagePurpose::ClientAuth);
    let refused = match connect(&app, &pki.ca_pem, Some(&outsider)).await {
        Err(_) => true,
        Ok(channel) => serving(channel).await.is_err(),
    };
    assert!(
        refused,
        "a client with a certificate from another CA got in"
    );
}

#[tokio::test]
async fn a_missing_certificate_file_fails_the_start_and_names_it() {
    let pki = Pki::new();
    let database = TestDatabase::create(Backend::Sqlite).await;
    let files = TlsFiles {
        cert: pki.path("nowhere.pem"),
        ..pki.files(false)
    };
    let error = App::build(tally::config::Settings {
        tls: Some(files),
        ..test_settings(&database.url)
    })
    .await
    .err()
    .expect("the start fails");
    let message = format!("{error:#}");
    assert!(
        message.contains("--tls-cert") && message.contains("nowhere.pem"),
        "{message}"
    );
}

crate::on_both_databases!(
    calls_over_tls_and_not_in_plaintext,
    mutual_tls_admits_only_clients_with_a_certificate_from_the_ca
);
