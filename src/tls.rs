//! TLS for the gRPC port (rustls): a certificate and key to serve with, and optionally the CA that
//! client certificates must chain to (mutual TLS: a client without one is refused in the handshake).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The PEM files TLS is served with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to; `None`: no client certificate asked.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the files (errors name the one that failed) into the server's TLS configuration.
    pub fn server_config(&self) -> anyhow::Result<ServerTlsConfig> {
        let identity = Identity::from_pem(
            read(&self.cert, "--tls-cert")?,
            read(&self.key, "--tls-key")?,
        );
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(read(ca, "--tls-client-ca")?))
                .client_auth_optional(false);
        }
        Ok(config)
    }
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
    anyhow::ensure!(
        String::from_utf8_lossy(&pem).contains("-----BEGIN "),
        "{flag} {}: not a PEM file",
        path.display()
    );
    Ok(pem)
}
