//! Operator commands on projects and keys (`tally keys …`, the first-start bootstrap). Keys go to
//! standard output and nowhere else; everything said about them goes to standard error.

use std::io::Write;

use sea_orm::DatabaseConnection;

use crate::{
    domain::api_key::{ApiKeyKind, GeneratedKey},
    store::{
        self,
        api_keys::{KeyListing, RevokeOutcome},
    },
};

/// The project created on a first start.
pub const DEFAULT_PROJECT: &str = "default";

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
