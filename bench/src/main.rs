//! The `tally-bench` command line: parse, then run one benchmark (see BENCHMARKS.md).

use std::process::ExitCode;

use clap::Parser;
use tally::config::{DEFAULT_DATABASE_URL, LogFormat};
use tally_bench::BenchCommand;
use tracing_subscriber::EnvFilter;

/// The benchmarks of Tally: measures ingest speed against the raw baseline (see BENCHMARKS.md).
#[derive(Parser)]
#[command(name = "tally-bench", version, about)]
struct Cli {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB` (raw, reports).
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Log format on standard error.
    #[arg(long, global = true, env = "TALLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: BenchCommand,
}

// The allocator the benchmarks ran with while they were part of the server's binary (the figures of
// BENCHMARKS.md): the raw baseline and the load generator allocate per record as the server does.
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
    init_logs(cli.log_format);
    tally_bench::run(cli.command, &cli.database_url).await
}

/// Logs on standard error as the server writes them, `RUST_LOG` filtering (default `info`); no
/// OpenTelemetry export, which would only add to what is measured.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}
