//! The `tally` command line: parse, then call into the library.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use tally::{
    admin,
    config::{DEFAULT_DATABASE_URL, DEFAULT_LISTEN, LogFormat, Settings, parse_duration},
    domain::{api_key::ApiKeyKind, run_flags::FlagSettings},
    service::budget_alerts::AlertSettings,
    startup::App,
    store, telemetry,
    tls::TlsFiles,
};

/// Tally meters what AI work costs and earns: a gRPC service.
#[derive(Parser)]
#[command(name = "tally", version, about)]
struct Cli {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Log format on standard error.
    #[arg(long, global = true, env = "TALLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Runs the gRPC server (applies migrations first unless --no-migrate).
    Serve(ServeArgs),
    /// Applies pending migrations and exits.
    Migrate,
    /// Manages API keys in an existing, migrated database (never creates or migrates one).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manages the model price catalog (import: in an existing, migrated database).
    #[command(subcommand)]
    Prices(PricesCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TALLY_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Do not apply migrations at start (when `tally migrate` runs as a separate job).
    #[arg(long, env = "TALLY_NO_MIGRATE")]
    no_migrate: bool,
    /// Do not create the `default` project and print its first keys on an empty database (keys then
    /// come from `tally keys create`), so no secret reaches the logs.
    #[arg(long, env = "TALLY_NO_BOOTSTRAP_KEY")]
    no_bootstrap_key: bool,
    /// After SIGTERM, how long to keep accepting calls while health reports NOT_SERVING.
    #[arg(long, env = "TALLY_DRAIN_DELAY", default_value = "0s", value_parser = parse_duration)]
    drain_delay: Duration,
    /// After the drain delay, how long calls in flight get to finish.
    #[arg(long, env = "TALLY_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    shutdown_grace: Duration,
    /// How long a verified API key is trusted before the database is asked again; a revoked key
    /// stops working within this time. 0s asks on every call.
    #[arg(long, env = "TALLY_KEY_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    key_cache_ttl: Duration,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "TALLY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TALLY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates that chain to these CA certificates (PEM): mutual TLS.
    #[arg(long, env = "TALLY_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Queue events for the running totals without folding them as they arrive (PostgreSQL):
    /// they are folded when a read of the totals needs them. For tests of the queued tail.
    #[arg(long, env = "TALLY_PAUSE_FOLDING", hide = true)]
    pause_folding: bool,
    /// How often budgets are checked against their alert thresholds (50, 80, 100 % of the monthly
    /// limit, for projects with a webhook) and due webhook deliveries are looked for.
    #[arg(long, env = "TALLY_BUDGET_ALERT_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    budget_alert_interval: Duration,
    /// Serve Prometheus metrics at `http://ADDRESS/metrics` (for example 0.0.0.0:9464). Off by
    /// default. With OTEL_EXPORTER_OTLP_ENDPOINT set the same metrics are also pushed over OTLP.
    #[arg(long, env = "TALLY_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Do not serve the browser console at `/` on the listen address (gRPC-Web calls still work).
    #[arg(long, env = "TALLY_NO_CONSOLE")]
    no_console: bool,
    #[command(flatten)]
    run_flags: RunFlagArgs,
}

/// Thresholds of runs' waste flags (see `FlagSettings` for what each means).
#[derive(Args)]
struct RunFlagArgs {
    /// Steps whose average input tokens is the baseline for context bloat.
    #[arg(long, env = "TALLY_BLOAT_BASELINE_STEPS", default_value_t = 3)]
    bloat_baseline_steps: u64,
    /// A step whose input tokens reach this many times the baseline is bloated.
    #[arg(long, env = "TALLY_BLOAT_FACTOR", default_value_t = 4)]
    bloat_factor: u64,
    /// A bloated step also has at least this many input tokens.
    #[arg(long, env = "TALLY_BLOAT_MIN_INPUT_TOKENS", default_value_t = 2_000)]
    bloat_min_input_tokens: u64,
    /// More steps than this in one run is a runaway loop.
    #[arg(long, env = "TALLY_LOOP_MAX_STEPS", default_value_t = 200)]
    loop_max_steps: u64,
    /// This many identical calls in a row is a runaway loop.
    #[arg(long, env = "TALLY_LOOP_REPEATS", default_value_t = 10)]
    loop_repeats: u64,
    /// A run still running this long after its last event is stale.
    #[arg(long, env = "TALLY_STALE_AFTER", default_value = "60m", value_parser = parse_duration)]
    stale_after: Duration,
}

impl RunFlagArgs {
    fn settings(&self) -> anyhow::Result<FlagSettings> {
        anyhow::ensure!(self.loop_repeats >= 2, "--loop-repeats must be at least 2");
        anyhow::ensure!(self.bloat_factor >= 2, "--bloat-factor must be at least 2");
        Ok(FlagSettings {
            bloat_baseline_steps: self.bloat_baseline_steps.max(1),
            bloat_factor: self.bloat_factor,
            bloat_min_input_tokens: self.bloat_min_input_tokens,
            loop_max_steps: self.loop_max_steps,
            loop_repeats: self.loop_repeats,
            stale_after: chrono::TimeDelta::from_std(self.stale_after)?,
        })
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Creates a key and prints only the key (the project is created when new).
    Create {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Make a read-only publishable key (pk_…) instead of a secret key (sk_…).
        #[arg(long)]
        publishable: bool,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// Lists keys (never their secrets).
    List {
        /// Only this project's keys.
        #[arg(long)]
        project: Option<String>,
    },
    /// Revokes a key by id or prefix; calls with it are refused from then on.
    Revoke {
        /// The key's id or its displayed prefix.
        key: String,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Imports a litellm-format price file; prints what changed on standard output.
    ///
    /// The file is litellm's model_prices_and_context_window.json or catalog/litellm_prices.json.
    /// Importing the same file again changes nothing. A changed price is added in force from now, so
    /// earlier events keep the old one; prices missing from the file are kept. Works on an existing,
    /// migrated database only (run `tally migrate` first); never migrates or creates one.
    Import {
        /// The price file.
        file: PathBuf,
    },
    /// Derives the shipped catalog from litellm's price file, on standard output.
    ///
    /// Redirect it to catalog/litellm_prices.json. A summary naming the source's SHA-256 goes to
    /// standard error. Needs no database.
    Derive {
        /// litellm's model_prices_and_context_window.json.
        source: PathBuf,
    },
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let metrics = match &cli.command {
        Command::Serve(args) => telemetry::MetricsSetup {
            enabled: true,
            prometheus: args.metrics_listen.is_some(),
        },
        _ => telemetry::MetricsSetup::default(),
    };
    let _telemetry = telemetry::init(cli.log_format, metrics)?;
    match cli.command {
        Command::Serve(args) => {
            anyhow::ensure!(
                !args.budget_alert_interval.is_zero(),
                "--budget-alert-interval must be more than 0s"
            );
            let settings = Settings {
                listen: args.listen,
                migrate: !args.no_migrate,
                bootstrap: !args.no_bootstrap_key,
                metrics_listen: args.metrics_listen,
                console: !args.no_console,
                drain_delay: args.drain_delay,
                shutdown_grace: args.shutdown_grace,
                key_cache_ttl: args.key_cache_ttl,
                tls: args.tls_cert.zip(args.tls_key).map(|(cert, key)| TlsFiles {
                    cert,
                    key,
                    client_ca: args.tls_client_ca,
                }),
                run_flags: args.run_flags.settings()?,
                fold_in_background: !args.pause_folding,
                alerts: AlertSettings {
                    interval: args.budget_alert_interval,
                    ..AlertSettings::default()
                },
                ..Settings::with_database(cli.database_url)
            };
            App::build(settings)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::Migrate => {
            let db = store::connect(&cli.database_url).await?;
            store::migrate(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Keys(command) => {
            let db = admin::open_database(&cli.database_url).await?;
            match command {
                KeysCommand::Create {
                    project,
                    publishable,
                    name,
                } => {
                    let kind = if publishable {
                        ApiKeyKind::Publishable
                    } else {
                        ApiKeyKind::Secret
                    };
                    println!(
                        "{}",
                        admin::create_key(&db, &project, kind, name.as_deref()).await?
                    );
                }
                KeysCommand::List { project } => {
                    print!(
                        "{}",
                        admin::format_key_table(&admin::list_keys(&db, project.as_deref()).await?)
                    );
                }
                KeysCommand::Revoke { key } => {
                    let key = admin::revoke_key(&db, &key).await?;
                    eprintln!(
                        "revoked key {} of project \"{}\"",
                        key.prefix, key.project_name
                    );
                }
            }
            Ok(())
        }
        Command::Prices(PricesCommand::Import { file }) => {
            let db = admin::open_database(&cli.database_url).await?;
            let report = admin::import_prices_file(&db, &file).await?;
            print!("{}", admin::format_import_report(&report));
            Ok(())
        }
        Command::Prices(PricesCommand::Derive { source }) => {
            let (catalog, summary) = admin::derive_prices_file(&source)?;
            print!("{catalog}");
            eprintln!("{summary}");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
