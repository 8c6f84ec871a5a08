//! The named rows of a project that ingest finds or creates: customers (with their display
//! names), agents and signals.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use crate::store::{
    StoreError,
    sql::{Table, val},
};

/// When a name (customer, agent or signal) was seen in a batch.
#[derive(Clone, Debug)]
pub struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// A customer's display name as last sent.
    pub display_name: Option<String>,
}

impl Seen {
    pub fn at(time: DateTime<Utc>) -> Self {
        Self {
            first: time,
            last: time,
            display_name: None,
        }
    }

    /// Widens the times to cover `time`.
    pub fn widen(&mut self, time: DateTime<Utc>) {
        self.first = Ord::min(self.first, time);
        self.last = Ord::max(self.last, time);
    }
}

/// Customers found or created by [`upsert_customers`].
pub struct CustomerRows {
    /// The row id of every customer id.
    pub ids: HashMap<String, Uuid>,
    /// The rows this call created: nothing can be stored for them before it commits.
    pub created: HashSet<Uuid>,
}

/// Finds or creates the customers. Existing rows are only read (a display name that changed is
/// the one update): no lock on a hot customer's row is held for the rest of the batch's
/// transaction, so concurrent batches for the same customers do not queue behind each other.
pub async fn upsert_customers(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    seen: &BTreeMap<String, Seen>,
    now: DateTime<Utc>,
) -> Result<CustomerRows, StoreError> {
    let names = Named {
        table: "customers",
        name_column: "customer_id",
        project_id,
    };
    let existing = names.find(db, seen.keys(), true).await?;
    let rows: Vec<Vec<Expr>> = seen
        .iter()
        .filter(|(customer_id, _)| !existing.contains_key(*customer_id))
        .map(|(customer_id, seen)| {
            vec![
                val(Uuid::now_v7()),
                val(project_id),
                val(customer_id.clone()),
                val(seen.display_name.clone()),
                val(serde_json::json!([])),
                val(now),
                val(seen.first),
                val(seen.last),
            ]
        })
        .collect();
    let columns = [
        "id",
        "project_id",
        "customer_id",
        "display_name",
        "aliases",
        "create_time",
        "first_seen_time",
        "last_seen_time",
    ];
    let (mut ids, created) = names
        .create(db, &columns, rows, seen.keys(), &existing)
        .await?;
    for (customer_id, seen) in seen {
        let Some((id, stored)) = existing.get(customer_id) else {
            continue;
        };
        if seen.display_name.is_some() && seen.display_name != *stored {
            let update = Query::update()
                .table(Alias::new("customers"))
                .value(Alias::new("display_name"), val(seen.display_name.clone()))
                .and_where(Expr::col(Alias::new("id")).eq(*id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
    ids.extend(
        existing
            .into_iter()
            .map(|(customer_id, (id, _))| (customer_id, id)),
    );
    Ok(CustomerRows { ids, created })
}

/// Finds or creates agents or signals; returns the row id of every name. `table` is `agents`
/// (`agent_code`) or `signals` (`signal_name`). Existing rows are only read.
pub async fn upsert_names(
    db: &impl ConnectionTrait,
    table: &'static str,
    name_column: &'static str,
    project_id: Uuid,
    seen: &BTreeMap<String, Seen>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Uuid>, StoreError> {
    let names = Named {
        table,
        name_column,
        project_id,
    };
    let existing = names.find(db, seen.keys(), false).await?;
    let rows: Vec<Vec<Expr>> = seen
        .iter()
        .filter(|(name, _)| !existing.contains_key(*name))
        .map(|(name, seen)| {
            vec![
                val(Uuid::now_v7()),
                val(project_id),
                val(name.clone()),
                val(now),
                val(seen.first),
                val(seen.last),
            ]
        })
        .collect();
    let columns = [
        "id",
        "project_id",
        name_column,
        "create_time",
        "first_seen_time",
        "last_seen_time",
    ];
    let (mut ids, _) = names
        .create(db, &columns, rows, seen.keys(), &existing)
        .await?;
    ids.extend(existing.into_iter().map(|(name, (id, _))| (name, id)));
    Ok(ids)
}

/// A table of named rows of a project (customers, agents, signals), unique on `(project_id, name)`.
struct Named {
    table: &'static str,
    name_column: &'static str,
    project_id: Uuid,
}

/// Rows found by name: id and display name.
type Found = HashMap<String, (Uuid, Option<String>)>;

impl Named {
    /// The rows of these names that exist, with their display name when asked.
    async fn find<'a>(
        &self,
        db: &impl ConnectionTrait,
        names: impl Iterator<Item = &'a String>,
        with_display_name: bool,
    ) -> Result<Found, StoreError> {
        let names: Vec<String> = names.cloned().collect();
        let mut found = HashMap::with_capacity(names.len());
        if names.is_empty() {
            return Ok(found);
        }
        let mut select = Query::select()
            .columns([Alias::new("id"), Alias::new(self.name_column)])
            .from(Alias::new(self.table))
            .and_where(Expr::col(Alias::new("project_id")).eq(self.project_id))
            .and_where(Expr::col(Alias::new(self.name_column)).is_in(names))
            .to_owned();
        if with_display_name {
            select.column(Alias::new("display_name"));
        }
        for row in db.query_all(&select).await? {
            let display_name = if with_display_name {
                row.try_get("", "display_name")?
            } else {
                None
            };
            found.insert(
                row.try_get("", self.name_column)?,
                (row.try_get("", "id")?, display_name),
            );
        }
        Ok(found)
    }

    /// Inserts the missing rows; a row another writer inserted meanwhile is read back. Returns
    /// the ids by name, and the ids of the rows this call inserted.
    async fn create<'a>(
        &self,
        db: &impl ConnectionTrait,
        columns: &[&str],
        rows: Vec<Vec<Expr>>,
        names: impl Iterator<Item = &'a String>,
        existing: &Found,
    ) -> Result<(HashMap<String, Uuid>, HashSet<Uuid>), StoreError> {
        let mut ids = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok((ids, HashSet::new()));
        }
        let table = Table {
            name: self.table,
            columns,
        };
        for chunk in rows.chunks(table.rows_per_statement()) {
            let mut insert = table.insert(chunk.to_vec());
            insert
                .on_conflict(
                    OnConflict::columns([Alias::new("project_id"), Alias::new(self.name_column)])
                        .do_nothing()
                        .to_owned(),
                )
                .returning(
                    Query::returning().columns([Alias::new("id"), Alias::new(self.name_column)]),
                );
            for row in db.query_all(&insert).await? {
                ids.insert(
                    row.try_get::<String>("", self.name_column)?,
                    row.try_get::<Uuid>("", "id")?,
                );
            }
        }
        let created = ids.values().copied().collect();
        let raced: Vec<&String> = names
            .filter(|name| !existing.contains_key(*name) && !ids.contains_key(*name))
            .collect();
        if !raced.is_empty() {
            let found = self.find(db, raced.into_iter(), false).await?;
            ids.extend(found.into_iter().map(|(name, (id, _))| (name, id)));
        }
        Ok((ids, created))
    }
}
