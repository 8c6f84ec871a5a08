//! Projects and their API keys.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{api_keys, projects},
    now,
};
use crate::domain::api_key::{ApiKeyKind, GeneratedKey};

/// A key as listed to an operator: never its secret.
#[derive(Clone, Debug)]
pub struct KeyListing {
    pub id: Uuid,
    pub project_name: String,
    pub kind: ApiKeyKind,
    pub prefix: String,
    pub name: Option<String>,
    pub create_time: DateTime<Utc>,
    pub revoke_time: Option<DateTime<Utc>>,
}

/// A stored key that may match a presented one.
#[derive(Clone, Debug)]
pub struct KeyCandidate {
    pub id: Uuid,
    pub project_id: Uuid,
    pub kind: ApiKeyKind,
    pub digest: String,
}

/// Finds the project of that name, creating it when there is none; true when it was created.
pub async fn ensure_project(
    db: &DatabaseConnection,
    name: &str,
) -> Result<(projects::Model, bool), StoreError> {
    if let Some(project) = find_project(db, name).await? {
        return Ok((project, false));
    }
    match insert_project(db, name).await {
        Ok(project) => Ok((project, true)),
        // Another process created it between the lookup and the insert.
        Err(StoreError::Conflict(_)) => {
            let project = find_project(db, name).await?;
            project.map(|project| (project, false)).ok_or_else(|| {
                StoreError::Other(sea_orm::DbErr::RecordNotFound(format!("project {name}")))
            })
        }
        Err(error) => Err(error),
    }
}

/// On a database with no project at all, creates one with a secret and a publishable key, in one
/// transaction; returns the plaintext keys, which exist nowhere else. `None` when a project exists
/// (also when another replica won the race to create it).
pub async fn bootstrap(
    db: &DatabaseConnection,
    project_name: &str,
) -> Result<Option<(projects::Model, GeneratedKey, GeneratedKey)>, StoreError> {
    if projects::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let txn = super::begin_write(db).await?;
    let project = match insert_project(&txn, project_name).await {
        Ok(project) => project,
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    let secret = GeneratedKey::generate(ApiKeyKind::Secret);
    let publishable = GeneratedKey::generate(ApiKeyKind::Publishable);
    insert_key(&txn, project.id, &secret, Some("created at first start")).await?;
    insert_key(
        &txn,
        project.id,
        &publishable,
        Some("created at first start"),
    )
    .await?;
    txn.commit().await?;
    Ok(Some((project, secret, publishable)))
}

/// Stores a new key of the project; only its digest and display prefix are kept.
pub async fn insert_key(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    key: &GeneratedKey,
    name: Option<&str>,
) -> Result<api_keys::Model, StoreError> {
    let row = api_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        kind: Set(key.kind.as_str().to_owned()),
        name: Set(name.map(str::to_owned)),
        prefix: Set(key.prefix.clone()),
        key_hash: Set(key.digest.clone()),
        create_time: Set(now()),
        revoke_time: Set(None),
        last_used_time: Set(None),
    };
    Ok(row.insert(db).await?)
}

/// The keys not revoked whose clear prefix is `prefix` (almost always one or none).
pub async fn active_candidates(
    db: &DatabaseConnection,
    prefix: &str,
) -> Result<Vec<KeyCandidate>, StoreError> {
    let rows = api_keys::Entity::find()
        .filter(api_keys::Column::Prefix.eq(prefix))
        .filter(api_keys::Column::RevokeTime.is_null())
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(KeyCandidate {
                id: row.id,
                project_id: row.project_id,
                kind: ApiKeyKind::parse(&row.kind)?,
                digest: row.key_hash,
            })
        })
        .collect())
}

/// Every key, optionally of one project, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    project_name: Option<&str>,
) -> Result<Vec<KeyListing>, StoreError> {
    let mut query = api_keys::Entity::find()
        .find_also_related(projects::Entity)
        .order_by_asc(api_keys::Column::CreateTime);
    if let Some(name) = project_name {
        query = query.filter(projects::Column::Name.eq(name));
    }
    let rows = query.all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, project)| listing(key, project?.name))
        .collect())
}

/// Revokes the key with this id or display prefix. `None` when no key matches; an error when the
/// prefix matches several.
pub async fn revoke(
    db: &DatabaseConnection,
    id_or_prefix: &str,
) -> Result<RevokeOutcome, StoreError> {
    let filter = match Uuid::parse_str(id_or_prefix) {
        Ok(id) => api_keys::Column::Id.eq(id),
        Err(_) => api_keys::Column::Prefix.eq(id_or_prefix),
    };
    let mut rows = api_keys::Entity::find()
        .filter(filter)
        .find_also_related(projects::Entity)
        .all(db)
        .await?;
    if rows.len() > 1 {
        return Ok(RevokeOutcome::Ambiguous(rows.len()));
    }
    let Some((key, project)) = rows.pop() else {
        return Ok(RevokeOutcome::NotFound);
    };
    let project_name = project.map(|p| p.name).unwrap_or_default();
    if key.revoke_time.is_some() {
        return Ok(listing(key, project_name)
            .map_or(RevokeOutcome::NotFound, RevokeOutcome::AlreadyRevoked));
    }
    let mut active: api_keys::ActiveModel = key.into();
    active.revoke_time = Set(Some(now()));
    let key = active.update(db).await?;
    Ok(listing(key, project_name).map_or(RevokeOutcome::NotFound, RevokeOutcome::Revoked))
}

/// What `revoke` did.
#[derive(Debug)]
pub enum RevokeOutcome {
    Revoked(KeyListing),
    AlreadyRevoked(KeyListing),
    NotFound,
    Ambiguous(usize),
}

async fn find_project(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<projects::Model>, StoreError> {
    Ok(projects::Entity::find()
        .filter(projects::Column::Name.eq(name))
        .one(db)
        .await?)
}

async fn insert_project(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<projects::Model, StoreError> {
    let row = projects::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        create_time: Set(now()),
    };
    Ok(row.insert(db).await?)
}

fn listing(key: api_keys::Model, project_name: String) -> Option<KeyListing> {
    Some(KeyListing {
        id: key.id,
        project_name,
        kind: ApiKeyKind::parse(&key.kind)?,
        prefix: key.prefix,
        name: key.name,
        create_time: key.create_time,
        revoke_time: key.revoke_time,
    })
}
