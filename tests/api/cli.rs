//! The `tally` binary as an operator runs it: first start prints the keys once (none with
//! `--no-bootstrap-key`), SIGTERM and SIGINT stop it cleanly (exit 0), `migrate` twice is harmless,
//! and `keys create|list|revoke` work.

use std::{process::Stdio, time::Duration};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tally::pb::{ListBudgetsRequest, budgets_client::BudgetsClient};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};
use tonic::{Code, transport::Channel};

use crate::helpers::{ApiKey, Backend, TestDatabase, start_server, test_settings};

const WAIT: Duration = Duration::from_secs(60);

/// The `tally` binary on `database_url`, its output piped, killed when dropped.
pub fn tally(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .env("DATABASE_URL", database_url)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs a short command; returns its standard output and error, failing the test on a non-zero exit.
async fn run_ok(database_url: &str, args: &[&str]) -> (String, String) {
    let output = tally(database_url)
        .args(args)
        .output()
        .await
        .expect("tally runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(output.status.success(), "tally {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// A `tally serve` process, its address, and its output as it comes.
pub struct Served {
    child: Child,
    address: String,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr_seen: Vec<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

fn forward_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Starts `tally --log-format json serve --listen 127.0.0.1:0` and waits for its SERVING log line.
pub async fn serve(database_url: &str) -> Served {
    serve_with_env(database_url, &[]).await
}

/// Like [`serve`], with more environment variables.
pub async fn serve_with_env(database_url: &str, env: &[(&str, &str)]) -> Served {
    let mut child = tally(database_url)
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .spawn()
        .expect("tally serve starts");
    let stdout = forward_lines(child.stdout.take().expect("stdout"));
    let mut stderr = forward_lines(child.stderr.take().expect("stderr"));
    let mut stderr_seen = Vec::new();
    let mut address = None;
    let ready = tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.recv().await {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let message = event["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if message == "tally listening" {
                address = event["fields"]["address"].as_str().map(str::to_owned);
            }
            stderr_seen.push(line);
            if message == "database ready; SERVING" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        ready,
        Ok(true),
        "tally serve did not become ready: {stderr_seen:#?}"
    );
    Served {
        child,
        address: address.expect("listening address logged"),
        stdout,
        stderr_seen,
        stderr,
    }
}

impl Served {
    pub fn budgets(
        &self,
        key: &str,
    ) -> BudgetsClient<tonic::service::interceptor::InterceptedService<Channel, ApiKey>> {
        BudgetsClient::with_interceptor(self.channel(), ApiKey::bearer(key))
    }

    /// The address it listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A channel to it, connecting on first use.
    pub fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("uri")
            .connect_lazy()
    }

    /// The fields of the first log line with this message written before it was ready.
    pub fn logged(&self, message: &str) -> Option<serde_json::Value> {
        self.stderr_seen.iter().find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            (event["fields"]["message"] == message).then(|| event["fields"].clone())
        })
    }

    /// Kills it with SIGKILL, as a crash would, and waits for it to be gone.
    pub async fn kill_now(mut self) {
        let pid = Pid::from_raw(self.child.id().expect("running") as i32);
        kill(pid, Signal::SIGKILL).expect("signal sent");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
    }

    pub async fn stdout_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stdout.recv())
            .await
            .expect("a line in time")
            .expect("stdout open")
    }

    /// Sends the signal, waits for the exit, and returns everything the process wrote to stdout and the
    /// stderr lines it wrote after the signal.
    pub async fn stop_with(mut self, signal: Signal) -> (Vec<String>, Vec<String>) {
        let pid = Pid::from_raw(self.child.id().expect("running") as i32);
        kill(pid, signal).expect("signal sent");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        let mut stderr = Vec::new();
        while let Some(line) = self.stderr.recv().await {
            stderr.push(line);
        }
        assert!(
            status.success(),
            "exit status {status:?} after {signal}; stderr: {stderr:#?}"
        );
        let mut stdout = Vec::new();
        while let Some(line) = self.stdout.recv().await {
            stdout.push(line);
        }
        (stdout, stderr)
    }
}

/// The log lines at WARN or ERROR level.
fn complaints(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .cloned()
        .collect()
}

pub fn key_after(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find(|line| line.contains(label))
        .and_then(|line| line.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
        .to_owned()
}

async fn first_start_prints_keys_once_and_signals_stop_cleanly(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let mut first = serve(&database.url).await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(first.stdout_line().await);
    }
    assert!(printed[0].contains("shown this once"), "{printed:#?}");
    let secret = key_after(&printed, "secret key");
    let publishable = key_after(&printed, "publishable key");
    assert!(
        secret.starts_with("sk_") && publishable.starts_with("pk_"),
        "{printed:#?}"
    );
    assert!(
        !first.stderr_seen.iter().any(|line| line.contains(&secret)),
        "keys never reach the logs"
    );
    let startup_log = first.stderr_seen.clone();

    first
        .budgets(&secret)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("secret key reads");
    first
        .budgets(&publishable)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("publishable key reads");
    let (rest, stderr) = first.stop_with(Signal::SIGTERM).await;
    assert!(rest.is_empty(), "nothing more on stdout: {rest:#?}");
    let mut complained = complaints(&startup_log);
    complained.extend(complaints(&stderr));
    assert!(
        complained.is_empty(),
        "no warning or error with no OTLP endpoint set: {complained:#?}"
    );
    assert!(
        stderr
            .iter()
            .any(|line| line.contains("shutdown requested")),
        "{stderr:#?}"
    );

    let second = serve(&database.url).await;
    second
        .budgets(&secret)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("the key still works");
    let (stdout, _) = second.stop_with(Signal::SIGINT).await;
    assert!(
        stdout.is_empty(),
        "keys are printed on the first start only: {stdout:#?}"
    );
}

async fn keys_commands_create_list_and_revoke(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let url = database.url.clone();
    run_ok(&url, &["migrate"]).await;
    run_ok(&url, &["migrate"]).await;

    let (stdout, stderr) = run_ok(&url, &["keys", "create", "--project", "acme"]).await;
    let secret = stdout.strip_suffix('\n').expect("one line").to_owned();
    assert!(
        secret.starts_with("sk_") && secret.len() == 43,
        "only the key on stdout: {stdout:?}"
    );
    assert!(
        secret[3..].chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );
    assert!(stderr.contains("created project"), "{stderr}");
    let (stdout, _) = run_ok(
        &url,
        &[
            "keys",
            "create",
            "--project",
            "acme",
            "--publishable",
            "--name",
            "dashboard",
        ],
    )
    .await;
    let publishable = stdout.trim_end().to_owned();
    assert!(
        publishable.starts_with("pk_") && !publishable.contains('\n'),
        "{stdout:?}"
    );

    let (listing, _) = run_ok(&url, &["keys", "list", "--project", "acme"]).await;
    assert!(
        listing.contains(&secret[..12]) && listing.contains(&publishable[..12]),
        "{listing}"
    );
    assert!(
        !listing.contains(&secret) && !listing.contains(&publishable),
        "secrets never listed: {listing}"
    );
    assert!(listing.contains("dashboard"), "{listing}");

    let app = start_server(database, test_settings).await;
    app.wait_until_serving().await;
    app.budgets(&secret)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("a created key works");

    let (_, stderr) = run_ok(&url, &["keys", "revoke", &secret[..12]]).await;
    assert!(stderr.contains("revoked"), "{stderr}");
    tokio::time::sleep(crate::helpers::KEY_CACHE_TTL).await;
    let refused = app
        .budgets(&secret)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect_err("revoked");
    assert_eq!(refused.code(), Code::Unauthenticated);
    app.budgets(&publishable)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("other keys still work");

    let output = tally(&url)
        .args(["keys", "revoke", "sk_nosuchkey"])
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success(), "revoking an unknown key fails");
}

/// `serve --no-bootstrap-key` (here through `TALLY_NO_BOOTSTRAP_KEY`, as the chart could set it) on
/// an empty database creates no project and prints no key, on standard output or in the logs; the
/// first key then comes from `tally keys create`, and the server takes it.
async fn no_bootstrap_key_prints_no_key_and_keys_create_gives_the_first(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let served = serve_with_env(&database.url, &[("TALLY_NO_BOOTSTRAP_KEY", "true")]).await;
    let (listing, _) = run_ok(&database.url, &["keys", "list"]).await;
    assert_eq!(
        listing.lines().count(),
        1,
        "no key, only the header: {listing}"
    );

    let (stdout, _) = run_ok(
        &database.url,
        &["keys", "create", "--project", "production"],
    )
    .await;
    let secret = stdout.trim_end().to_owned();
    assert!(secret.starts_with("sk_"), "{stdout:?}");
    served
        .budgets(&secret)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("the created key works");
    let (listing, _) = run_ok(&database.url, &["keys", "list"]).await;
    assert!(
        listing.contains("production") && !listing.contains("default"),
        "{listing}"
    );

    let startup_log = served.stderr_seen.clone();
    let (printed, stderr) = served.stop_with(Signal::SIGTERM).await;
    assert!(printed.is_empty(), "nothing on stdout: {printed:#?}");
    assert!(
        !startup_log
            .iter()
            .chain(&stderr)
            .any(|line| line.contains("sk_") || line.contains("pk_")),
        "no key in the logs: {startup_log:#?} {stderr:#?}"
    );
}

/// Durations take hours and compound forms (`1h`, `1m 30s`), and a wrong one is refused with the
/// value quoted before anything starts.
async fn durations_take_hours_and_refuse_what_they_cannot_read(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let served = serve_with_env(
        &database.url,
        &[
            ("TALLY_STALE_AFTER", "1h"),
            ("TALLY_SHUTDOWN_GRACE", "1m 30s"),
        ],
    )
    .await;
    served.kill_now().await;
    let output = tally(&database.url)
        .args(["serve", "--stale-after", "5x"])
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--stale-after") && stderr.contains("\"5x\" is not a duration"),
        "{stderr}"
    );
}

/// A server started with `--no-migrate` on an empty database says to run `tally migrate` (once, not
/// a missing table per query), waits NOT_SERVING, and serves once the migrations are applied.
async fn a_server_without_migrations_waits_and_says_to_migrate(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut child = tally(&database.url)
        .args([
            "--log-format",
            "json",
            "serve",
            "--no-migrate",
            "--listen",
            "127.0.0.1:0",
        ])
        .spawn()
        .expect("tally serve starts");
    let _stdout = forward_lines(child.stdout.take().expect("stdout"));
    let mut stderr = forward_lines(child.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    let mut migrated = false;
    let ready = tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.recv().await {
            seen.push(line.clone());
            if line.contains("run `tally migrate`") && !migrated {
                run_ok(&database.url, &["migrate"]).await;
                migrated = true;
            }
            if line.contains("database ready; SERVING") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "{seen:#?}");
    assert!(migrated, "said to migrate before serving: {seen:#?}");
    let told = seen
        .iter()
        .filter(|line| line.contains("run `tally migrate`"))
        .count();
    assert_eq!(told, 1, "said once: {seen:#?}");
    assert!(
        !seen.iter().any(|line| line.contains("does not exist")),
        "no missing-table errors: {seen:#?}"
    );
    child.kill().await.ok();
}

/// The admin commands take the database as it is: they neither create it (a SQLite file named
/// with `mode=rwc` included) nor migrate it, saying in one line what to do instead; once it is
/// migrated they say which database they used (password masked), with no migration notices.
async fn admin_commands_neither_create_nor_migrate_the_database(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let file = database
        .url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .map(std::path::PathBuf::from);
    for args in [
        &["keys", "create", "--project", "production"][..],
        &["prices", "import", "catalog/litellm_prices.json"][..],
    ] {
        let output = tally(&database.url)
            .args(args)
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        match &file {
            Some(file) => {
                assert!(
                    stderr.contains(&file.display().to_string()),
                    "names the file it looked for: {stderr}"
                );
                assert!(!file.exists(), "{args:?} created {}", file.display());
            }
            None => {
                assert!(stderr.contains("run `tally migrate`"), "{stderr}");
                let db = database.connect().await;
                let tables = crate::helpers::scalar(
                    &db,
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM information_schema.tables \
                     WHERE table_schema = 'public'",
                )
                .await;
                assert_eq!(tables, 0, "{args:?} left the schema empty");
            }
        }
    }
    if let Some(file) = &file {
        // A file that is there but was never migrated is not migrated either.
        std::fs::write(file, b"").expect("empty file");
        let output = tally(&database.url)
            .args(["keys", "list"])
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("run `tally migrate`"), "{stderr}");
        let db = database.connect().await;
        let tables = crate::helpers::scalar(&db, "SELECT COUNT(*) FROM sqlite_master").await;
        assert_eq!(tables, 0, "left the file empty");
    }

    run_ok(&database.url, &["migrate"]).await;
    // A password in the URL is masked (PostgreSQL's trust login here never asks for it).
    let url = match backend {
        Backend::Postgres => {
            let mut url = url::Url::parse(&database.url).expect("a URL");
            url.set_password(Some("s3cret")).expect("a password fits");
            url.to_string()
        }
        Backend::Sqlite => database.url.clone(),
    };
    let (stdout, stderr) = run_ok(&url, &["keys", "create", "--project", "production"]).await;
    assert!(stdout.starts_with("sk_"), "{stdout}");
    let shown = tally::config::redact_url(&url);
    assert!(
        stderr.contains(&format!("using database {shown}")),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("migrat"),
        "no migration notices: {stderr}"
    );
}

/// An admin command with no database named refuses to make a new `./tally.db` (the operator meant the
/// server's database) and says how to name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_do_not_create_the_default_database() {
    let here = tempfile::tempdir().expect("temporary directory");
    for args in [
        &["keys", "create", "--project", "production"][..],
        &["prices", "import", "prices.json"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(args)
            .current_dir(here.path())
            .env_remove("DATABASE_URL")
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--database-url"), "{args:?}: {stderr}");
        assert!(!here.path().join("tally.db").exists(), "{args:?}");
    }
}

crate::on_both_databases!(
    admin_commands_neither_create_nor_migrate_the_database,
    a_server_without_migrations_waits_and_says_to_migrate,
    first_start_prints_keys_once_and_signals_stop_cleanly,
    keys_commands_create_list_and_revoke,
    no_bootstrap_key_prints_no_key_and_keys_create_gives_the_first,
    durations_take_hours_and_refuse_what_they_cannot_read
);
