//! Settings of a running server: defaults, overridden by `TALLY_*` / standard environment variables,
//! overridden by command-line flags (clap resolves the last two). Secrets are never logged: the
//! database URL is shown with its password masked.

use std::{net::SocketAddr, time::Duration};

/// The embedded default: a SQLite file in the working directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tally.db?mode=rwc";
/// The default listen address: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything `serve` needs to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Apply pending migrations at start (turned off where a Helm hook job runs `tally migrate`).
    pub migrate: bool,
    /// Create a project and print its first keys when the database has no project yet.
    pub bootstrap: bool,
    /// How long health reports `NOT_SERVING` before the listener closes, so that load balancers and
    /// service meshes stop routing new calls here first.
    pub drain_delay: Duration,
    /// The longest time in-flight calls and streams get to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Pause between attempts to reach the database while it is not answering (at start, and during
    /// an outage, while calls are refused with `UNAVAILABLE`).
    pub database_retry: Duration,
    /// How often a serving instance checks that its database still answers.
    pub database_check_interval: Duration,
    /// The thresholds of runs' waste flags.
    pub run_flags: crate::domain::run_flags::FlagSettings,
    /// Whether queued events are folded into the totals as they arrive (PostgreSQL). When off they
    /// are folded only when a read of the totals needs them: for tests of the queued tail.
    pub fold_in_background: bool,
    /// How long a verified API key is trusted without asking the database again; a revoked key
    /// stops working within this time. Zero asks every time.
    pub key_cache_ttl: Duration,
    /// Serve TLS (and mutual TLS with a client CA) instead of plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How budget thresholds are watched and alerts delivered to webhooks.
    pub alerts: crate::service::budget_alerts::AlertSettings,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when `None`. Needs the registry that
    /// `telemetry::init` makes when asked for Prometheus.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the browser console at `/` on the listen address (gRPC-Web is served either way).
    pub console: bool,
}

impl Settings {
    /// Settings with every default, for the given database.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address is valid"),
            database_url: database_url.into(),
            migrate: true,
            bootstrap: true,
            drain_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
            database_retry: Duration::from_secs(1),
            database_check_interval: Duration::from_secs(5),
            run_flags: crate::domain::run_flags::FlagSettings::default(),
            fold_in_background: true,
            key_cache_ttl: Duration::from_secs(10),
            tls: None,
            alerts: crate::service::budget_alerts::AlertSettings::default(),
            metrics_listen: None,
            console: true,
        }
    }
}

/// Returns the URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact_url("postgres://tally:s3cret@db:5432/tally"),
            "postgres://tally:***@db:5432/tally"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact_url(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
    }
}

/// Whether `url` is the default database and its file is not there: the admin commands refuse
/// then rather than create an empty `./tally.db` that no server reads (an operator who forgot
/// `--database-url` would get a key that fails everywhere).
pub fn is_missing_default_database(url: &str) -> bool {
    let file = DEFAULT_DATABASE_URL
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    url == DEFAULT_DATABASE_URL && !std::path::Path::new(file).exists()
}

/// Parses a duration as humantime writes it (`500ms`, `5s`, `2m`, `1h`, `1h 30m`), or a bare number
/// of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|error| format!("{text:?} is not a duration such as 500ms, 5s, 2m or 1h: {error}"))
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn parses_the_usual_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
