//! A connection to Tally with the API key on every call, and a typed client per service.

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::pb::{
    budgets_client::BudgetsClient, directory_client::DirectoryClient, ingest_client::IngestClient,
    pricing_client::PricingClient, reports_client::ReportsClient, runs_client::RunsClient,
    webhooks_client::WebhooksClient,
};

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub struct ApiKey(MetadataValue<Ascii>);

impl Interceptor for ApiKey {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, ApiKey>;

/// A connection to one Tally server, cheap to clone (calls share one HTTP/2 connection).
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    key: ApiKey,
}

/// Why a client could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The address is not a valid URI.
    Address(String),
    /// The key has characters a header cannot carry.
    Key,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(error) => write!(f, "invalid server address: {error}"),
            Self::Key => write!(f, "the API key is not printable ASCII"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl Client {
    /// A client of the server at `address` (`http://host:50051`) calling with `key` (`sk_…` or
    /// `pk_…`). It connects on the first call and reconnects after the server goes away, so a
    /// server that is down now is not an error here.
    pub fn new(address: &str, key: &str) -> Result<Self, ConnectError> {
        let endpoint = Endpoint::from_shared(address.to_owned())
            .map_err(|error| ConnectError::Address(error.to_string()))?;
        Self::with_channel(endpoint.connect_lazy(), key)
    }

    /// A client over a channel made by the caller (TLS, timeouts, load balancing).
    pub fn with_channel(channel: Channel, key: &str) -> Result<Self, ConnectError> {
        let header = format!("Bearer {key}")
            .parse()
            .map_err(|_| ConnectError::Key)?;
        Ok(Self {
            channel,
            key: ApiKey(header),
        })
    }

    pub fn ingest(&self) -> IngestClient<Svc> {
        IngestClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn runs(&self) -> RunsClient<Svc> {
        RunsClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn budgets(&self) -> BudgetsClient<Svc> {
        BudgetsClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn pricing(&self) -> PricingClient<Svc> {
        PricingClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn directory(&self) -> DirectoryClient<Svc> {
        DirectoryClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn reports(&self) -> ReportsClient<Svc> {
        ReportsClient::with_interceptor(self.channel.clone(), self.key.clone())
    }

    pub fn webhooks(&self) -> WebhooksClient<Svc> {
        WebhooksClient::with_interceptor(self.channel.clone(), self.key.clone())
    }
}
