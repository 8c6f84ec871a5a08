//! The price catalog as an operator meets it: `tally prices import` is idempotent, reports what
//! changed and keeps the price history; the server loads the shipped catalog into a new database
//! once; the shipped catalog has the prices its source states.

use std::{path::Path, process::Stdio};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally::{
    admin,
    domain::{
        catalog::{self, EMBEDDED},
        pricing::{Convention, Dimension, Tier},
    },
    store::{self, catalog::CatalogPriceRow},
};
use tokio::process::Command;

use crate::helpers::{Backend, TestDatabase, spawn_app};

/// Runs `tally ARGS` against the database; returns standard output, failing the test on an error.
async fn tally_ok(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .env("DATABASE_URL", database_url)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("tally runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tally {args:?} failed: {stderr}");
    stdout
}

/// The number on the report line that starts with `label`.
fn figure(report: &str, label: &str) -> usize {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|number| number.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} figure in:\n{report}"))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("decimal")
}

const FIRST: &str = r#"{
  "acme-chat": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06,
                "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06},
  "anthropic/acme-claude": {"litellm_provider": "anthropic", "mode": "chat",
                "input_cost_per_token": 3e-06, "cache_creation_input_token_cost": 3.75e-06},
  "acme/ocr": {"litellm_provider": "acme", "mode": "ocr", "ocr_cost_per_page": 0.0015}
}"#;

/// `acme-chat` input up, `acme-claude` cache creation gone, `acme-chat` batch input new.
const SECOND: &str = r#"{
  "acme-chat": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3e-06,
                "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
                "input_cost_per_token_batches": 1.5e-06},
  "anthropic/acme-claude": {"litellm_provider": "anthropic", "mode": "chat",
                "input_cost_per_token": 3e-06},
  "acme/ocr": {"litellm_provider": "acme", "mode": "ocr", "ocr_cost_per_page": 0.0015}
}"#;

fn rows_of<'r>(
    rows: &'r [CatalogPriceRow],
    model: &str,
    dimension: Dimension,
    tier: Tier,
) -> Vec<&'r CatalogPriceRow> {
    rows.iter()
        .filter(|row| row.model == model && row.dimension == dimension && row.tier == tier)
        .collect()
}

async fn import(url: &str, dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("price file written");
    tally_ok(
        url,
        &["prices", "import", path.to_str().expect("utf-8 path")],
    )
    .await
}

async fn prices_import_is_idempotent_and_keeps_history(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    // The admin commands work on a migrated database only; `migrate` loads no catalog.
    tally_ok(&database.url, &["migrate"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");

    let report = import(&database.url, dir.path(), "first.json", FIRST).await;
    assert_eq!(figure(&report, "prices added"), 6, "{report}");
    assert_eq!(figure(&report, "prices changed"), 0, "{report}");
    assert_eq!(figure(&report, "models"), 3, "{report}");

    let again = import(&database.url, dir.path(), "first.json", FIRST).await;
    assert_eq!(figure(&again, "prices added"), 0, "{again}");
    assert_eq!(figure(&again, "prices changed"), 0, "{again}");
    assert_eq!(figure(&again, "prices unchanged"), 6, "{again}");
    assert_eq!(figure(&again, "conventions written"), 0, "{again}");

    let db = database.connect().await;
    let before = store::catalog::load(&db).await.expect("catalog loads");
    assert_eq!(before.len(), 6);
    assert!(
        before
            .iter()
            .all(|row| row.effective_time == DateTime::<Utc>::UNIX_EPOCH),
        "the first import is in force from the epoch, so back-filled events are priced"
    );

    let changed = import(&database.url, dir.path(), "second.json", SECOND).await;
    assert_eq!(figure(&changed, "prices changed"), 1, "{changed}");
    assert!(
        changed.contains("openai acme-chat INPUT: 0.0000025 -> 0.000003"),
        "{changed}"
    );
    assert_eq!(figure(&changed, "prices added"), 1, "{changed}");
    assert_eq!(
        figure(&changed, "prices absent from the file (kept)"),
        1,
        "{changed}"
    );
    assert!(
        changed.contains("anthropic acme-claude CACHE_CREATION"),
        "{changed}"
    );

    let after = store::catalog::load(&db).await.expect("catalog loads");
    assert_eq!(after.len(), 8, "one changed price and one new price added");
    let input = rows_of(&after, "acme-chat", Dimension::Input, Tier::Standard);
    assert_eq!(input.len(), 2, "both prices kept: {input:#?}");
    assert_eq!(input[0].unit_price, dec("0.0000025"));
    assert_eq!(input[0].effective_time, DateTime::<Utc>::UNIX_EPOCH);
    assert_eq!(input[1].unit_price, dec("0.000003"));
    assert!(
        input[1].effective_time > DateTime::<Utc>::UNIX_EPOCH,
        "a change is in force from its import"
    );
    let batch = rows_of(&after, "acme-chat", Dimension::Input, Tier::Batch);
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].effective_time, input[1].effective_time,
        "a price new to a catalog that has prices is in force from its import"
    );
    let creation = rows_of(
        &after,
        "acme-claude",
        Dimension::CacheCreation,
        Tier::Standard,
    );
    assert_eq!(
        creation.len(),
        1,
        "a price the file lacks is kept, still in force"
    );

    let conventions = store::catalog::load_conventions(&db)
        .await
        .expect("conventions load");
    let convention = |provider: &str| {
        conventions
            .iter()
            .find(|item| item.provider == provider)
            .map(|item| item.convention)
    };
    assert_eq!(convention("openai"), Some(Convention::OPENAI));
    assert_eq!(convention("anthropic"), Some(Convention::ANTHROPIC));
    assert_eq!(convention("acme"), Some(Convention::OPENAI));
    let aliases = store::catalog::load_aliases(&db)
        .await
        .expect("aliases load");
    assert!(
        aliases.iter().any(|alias| alias.provider == "anthropic"
            && alias.alias == "anthropic/acme-claude"
            && alias.model == "acme-claude"),
        "{aliases:#?}"
    );

    let repeat = import(&database.url, dir.path(), "second.json", SECOND).await;
    assert_eq!(figure(&repeat, "prices changed"), 0, "{repeat}");
    assert_eq!(figure(&repeat, "prices added"), 0, "{repeat}");
    db.close().await.ok();
}

async fn the_server_loads_the_shipped_catalog_into_a_new_database_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.database.connect().await;
    let rows = store::catalog::load(&db).await.expect("catalog loads");
    let shipped = catalog::parse(EMBEDDED).expect("shipped catalog parses");
    assert_eq!(rows.len(), shipped.price_count());
    let gpt_input = rows
        .iter()
        .find(|row| {
            row.provider == "openai"
                && row.model == "gpt-4o"
                && row.dimension == Dimension::Input
                && row.tier == Tier::Standard
                && row.min_input_tokens == 0
        })
        .expect("gpt-4o input price");
    assert_eq!(gpt_input.unit_price, dec("0.0000025"));
    assert_eq!(
        store::catalog::load_conventions(&db)
            .await
            .expect("conventions load")
            .len(),
        shipped.conventions.len()
    );
    assert!(
        admin::ensure_catalog(&db)
            .await
            .expect("catalog check")
            .is_none(),
        "a catalog with prices is left alone"
    );
    db.close().await.ok();
}

#[test]
fn the_shipped_catalog_has_the_prices_of_its_source() {
    let shipped = catalog::parse(EMBEDDED).expect("shipped catalog parses");
    let price = |provider: &str, model: &str, dimension: Dimension| {
        shipped
            .entries
            .iter()
            .find(|entry| entry.provider == provider && entry.model == model)
            .unwrap_or_else(|| panic!("{provider} {model} in the catalog"))
            .prices
            .iter()
            .find(|price| {
                price.dimension == dimension
                    && price.tier == Tier::Standard
                    && price.min_input_tokens == 0
            })
            .map(|price| price.unit_price)
    };
    assert_eq!(
        price("openai", "gpt-4o", Dimension::Input),
        Some(dec("0.0000025"))
    );
    assert_eq!(
        price("openai", "gpt-4o", Dimension::Output),
        Some(dec("0.00001"))
    );
    assert_eq!(
        price("anthropic", "claude-sonnet-4-5", Dimension::CachedInput),
        Some(dec("0.0000003"))
    );
    assert_eq!(
        price("anthropic", "claude-sonnet-4-5", Dimension::CacheCreation),
        Some(dec("0.00000375"))
    );
    assert_eq!(
        price("gemini", "gemini-2.5-pro", Dimension::Input),
        Some(dec("0.00000125")),
        "gemini/gemini-2.5-pro is keyed without its provider prefix"
    );
    assert_eq!(
        price("mistral", "mistral-ocr-latest", Dimension::Unit),
        Some(dec("0.004")),
        "OCR per page"
    );
    assert_eq!(
        price("dataforseo", "search", Dimension::Unit),
        Some(dec("0.003")),
        "search per query"
    );
    assert!(
        shipped.entries.len() > 4000 && shipped.conventions.len() > 100,
        "{} models, {} providers",
        shipped.entries.len(),
        shipped.conventions.len()
    );
}

crate::on_both_databases!(
    prices_import_is_idempotent_and_keeps_history,
    the_server_loads_the_shipped_catalog_into_a_new_database_once
);
