//! Operator commands on projects and keys (`tally keys …`, the first-start bootstrap) and on the
//! price catalog (`tally prices …`). Keys go to standard output and nowhere else; everything said
//! about them goes to standard error.

use std::{fmt::Write as _, io::Write, path::Path, str::FromStr};

use anyhow::Context;
use sea_orm::{DatabaseConnection, sqlx::sqlite::SqliteConnectOptions};
use sha2::{Digest, Sha256};

use crate::{
    config::{is_missing_default_database, redact_url},
    domain::{
        api_key::{ApiKeyKind, GeneratedKey},
        catalog,
    },
    store::{
        self, StoreError,
        api_keys::{KeyListing, RevokeOutcome},
        catalog::ImportReport,
    },
};

/// The project created on a first start.
pub const DEFAULT_PROJECT: &str = "default";

/// Opens the database of an admin command (`keys`, `prices import`) as it is, and says on standard
/// error which one it is. It never creates one (a key written to a new file that no server reads
/// fails everywhere) and never migrates (that is `tally migrate`'s job, against the server's
/// database, often with other rights): a missing database or schema is an error naming it.
pub async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    anyhow::ensure!(
        !is_missing_default_database(url),
        "no database to work on: ./tally.db (the default) does not exist here, and this command \
         does not create one. Pass --database-url (or set DATABASE_URL) to the server's database"
    );
    let shown = redact_url(url);
    let url = if url.starts_with("sqlite:") {
        existing_sqlite(url)?
    } else {
        url.to_owned()
    };
    let db = store::connect(&url).await?;
    let pending = store::pending_migrations(&db)
        .await
        .with_context(|| format!("cannot read which migrations {shown} has"))?;
    if let Some(first) = pending.first() {
        anyhow::bail!(
            "the database {shown} lacks {} migration(s), from {first} on: run `tally migrate` \
             against it first (this command does not migrate)",
            pending.len()
        );
    }
    eprintln!("using database {shown}");
    Ok(db)
}

/// `url` made to open its SQLite file only if it is there (`mode=rwc` becomes `mode=rw`); an error
/// naming the file when it is not.
fn existing_sqlite(url: &str) -> anyhow::Result<String> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("cannot read the SQLite URL {url}"))?;
    let file = options.get_filename();
    let in_memory = file == Path::new(":memory:") || url.contains("mode=memory");
    if !in_memory && !file.exists() {
        let looked_for = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        anyhow::bail!(
            "no SQLite database at {}: this command does not create one. Pass --database-url (or \
             set DATABASE_URL) to the server's database; a new one is made by `tally migrate`",
            looked_for.display()
        );
    }
    Ok(without_create(url))
}

/// `url` with SQLite's `mode=rwc` (create when missing) turned into `mode=rw`.
fn without_create(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| if pair == "mode=rwc" { "mode=rw" } else { pair })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// On a database with no project, creates the default one and prints its first secret and publishable
/// keys, once: they are stored only as digests and cannot be shown again.
pub async fn bootstrap(db: &DatabaseConnection) -> anyhow::Result<()> {
    let Some((project, secret, publishable)) =
        store::api_keys::bootstrap(db, DEFAULT_PROJECT).await?
    else {
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "first start: created project \"{}\" and two API keys. They are shown this once and stored only \
         as hashes; keep them now (`tally keys create` makes more).",
        project.name
    )?;
    writeln!(out, "  secret key (read and write): {}", secret.plaintext)?;
    writeln!(
        out,
        "  publishable key (read only):  {}",
        publishable.plaintext
    )?;
    out.flush()?;
    Ok(())
}

/// Creates a key in the named project (creating the project when it is new) and returns the plaintext.
pub async fn create_key(
    db: &DatabaseConnection,
    project_name: &str,
    kind: ApiKeyKind,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let project_name = project_name.trim();
    anyhow::ensure!(
        !project_name.is_empty() && project_name.chars().count() <= 256,
        "project name must be 1 to 256 characters"
    );
    let (project, created) = store::api_keys::ensure_project(db, project_name).await?;
    if created {
        eprintln!("created project \"{}\"", project.name);
    }
    let key = GeneratedKey::generate(kind);
    store::api_keys::insert_key(db, project.id, &key, name).await?;
    Ok(key.plaintext)
}

/// Every key (optionally of one project), for display.
pub async fn list_keys(
    db: &DatabaseConnection,
    project_name: Option<&str>,
) -> anyhow::Result<Vec<KeyListing>> {
    Ok(store::api_keys::list(db, project_name).await?)
}

/// Revokes a key by id or display prefix; calls made with it fail from then on.
pub async fn revoke_key(db: &DatabaseConnection, id_or_prefix: &str) -> anyhow::Result<KeyListing> {
    match store::api_keys::revoke(db, id_or_prefix.trim()).await? {
        RevokeOutcome::Revoked(key) => Ok(key),
        RevokeOutcome::AlreadyRevoked(key) => {
            eprintln!("key {} was already revoked", key.prefix);
            Ok(key)
        }
        RevokeOutcome::NotFound => anyhow::bail!("no key with id or prefix {id_or_prefix:?}"),
        RevokeOutcome::Ambiguous(count) => {
            anyhow::bail!("{count} keys share the prefix {id_or_prefix:?}; revoke by id instead")
        }
    }
}

/// Formats keys as an aligned table.
pub fn format_key_table(keys: &[KeyListing]) -> String {
    let mut table = format!(
        "{:<36}  {:<20}  {:<11}  {:<12}  {:<20}  {:<20}  {}\n",
        "ID", "PROJECT", "KIND", "PREFIX", "CREATED", "REVOKED", "NAME"
    );
    for key in keys {
        let revoked = key
            .revoke_time
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        table.push_str(&format!(
            "{:<36}  {:<20}  {:<11}  {:<12}  {:<20}  {:<20}  {}\n",
            key.id,
            key.project_name,
            key.kind.as_str(),
            key.prefix,
            key.create_time.format("%Y-%m-%d %H:%M:%S"),
            revoked,
            key.name.as_deref().unwrap_or_default()
        ));
    }
    table
}

/// Imports a price file in litellm's format and reports what changed (see
/// [`store::catalog::import`]). A file with no price Tally reads is refused: it is not a price list.
pub async fn import_prices(db: &DatabaseConnection, text: &str) -> anyhow::Result<ImportReport> {
    let catalog = catalog::parse(text)?;
    anyhow::ensure!(
        !catalog.entries.is_empty(),
        "no prices found: expected litellm's model_prices_and_context_window.json format"
    );
    Ok(store::catalog::import(db, &catalog, store::now()).await?)
}

/// Reads and imports a price file (`tally prices import FILE`).
pub async fn import_prices_file(
    db: &DatabaseConnection,
    path: &Path,
) -> anyhow::Result<ImportReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    import_prices(db, &text)
        .await
        .with_context(|| format!("cannot import {}", path.display()))
}

/// Imports the catalog compiled into the binary when the database has no catalog price yet (a new
/// database); `None` when it has. Later catalogs come in through `tally prices import`, which keeps
/// the price history. When another replica imports at the same time, its import wins and this one
/// returns `None`.
pub async fn ensure_catalog(db: &DatabaseConnection) -> anyhow::Result<Option<ImportReport>> {
    if !store::catalog::is_empty(db).await? {
        return Ok(None);
    }
    let catalog = catalog::parse(catalog::EMBEDDED)?;
    match store::catalog::import(db, &catalog, store::now()).await {
        Ok(report) => Ok(Some(report)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(error) => Err(error).context("cannot import the shipped price catalog"),
    }
}

/// Derives the shipped catalog (`catalog/litellm_prices.json`) from litellm's price file; returns
/// the file and a one-line summary naming the source's SHA-256.
pub fn derive_prices_file(source: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let derived = catalog::derive(&text)?;
    let parsed = catalog::parse(&derived.json)?;
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let summary = format!(
        "derived {} entries ({} models, {} prices, {} providers) from {} (sha256 {digest}); {} entries without a price Tally reads left out",
        derived.entries,
        parsed.entries.len(),
        parsed.price_count(),
        parsed.conventions.len(),
        source.display(),
        derived.skipped,
    );
    Ok((derived.json, summary))
}

/// Formats an import report for an operator, one figure per line.
pub fn format_import_report(report: &ImportReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "models: {} ({} providers)",
        report.models, report.providers
    );
    let _ = write!(out, "prices added: {}", report.prices_added);
    if report.prices_added > 0 {
        let _ = write!(
            out,
            " (in force from {})",
            report.effective_time.to_rfc3339()
        );
    }
    out.push('\n');
    let _ = writeln!(out, "prices changed: {}", report.prices_changed);
    for change in &report.changed_examples {
        let _ = writeln!(
            out,
            "  {}: {} -> {}",
            change.key,
            change.old.normalize(),
            change.new.normalize()
        );
    }
    let _ = writeln!(out, "prices unchanged: {}", report.prices_unchanged);
    let _ = writeln!(
        out,
        "prices absent from the file (kept): {}",
        report.prices_absent
    );
    for key in &report.absent_examples {
        let _ = writeln!(out, "  {key}");
    }
    let _ = writeln!(
        out,
        "duplicate keys skipped: {}",
        report.duplicate_keys_skipped
    );
    let _ = writeln!(out, "values skipped: {}", report.values_skipped.len());
    for problem in report.values_skipped.iter().take(5) {
        let _ = writeln!(out, "  {problem}");
    }
    let _ = writeln!(
        out,
        "conventions written: {}, aliases written: {}",
        report.conventions_written, report.aliases_written
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_lose_their_create_mode_only() {
        assert_eq!(
            without_create("sqlite:///srv/tally.db?mode=rwc"),
            "sqlite:///srv/tally.db?mode=rw"
        );
        assert_eq!(
            without_create("sqlite://x.db?cache=shared&mode=rwc"),
            "sqlite://x.db?cache=shared&mode=rw"
        );
        assert_eq!(without_create("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            without_create("sqlite://x.db?mode=ro"),
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn a_missing_sqlite_file_is_named_and_not_made() {
        let here = tempfile::tempdir().expect("temporary directory");
        let file = here.path().join("tally.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let error = existing_sqlite(&url).expect_err("missing");
        assert!(
            error.to_string().contains(&file.display().to_string()),
            "{error}"
        );
        assert!(!file.exists());
        std::fs::write(&file, b"").expect("made");
        assert_eq!(
            existing_sqlite(&url).expect("there"),
            format!("sqlite://{}?mode=rw", file.display())
        );
    }
}
