//! The named rows of a project that ingest finds or creates: customers (with their display
//! names), agents and signals.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, IdenStatic,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use crate::store::{
    StoreError,
    entities::{agents, customers, signals},
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
    let names = Named::customers(project_id);
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
    let (mut ids, created) = names.create(db, rows, seen.keys(), &existing).await?;
    for (customer_id, seen) in seen {
        let Some((id, stored)) = existing.get(customer_id) else {
            continue;
        };
        if seen.display_name.is_some() && seen.display_name != *stored {
            let update = Query::update()
                .table(customers::Entity)
                .value(
                    customers::Column::DisplayName,
                    val(seen.display_name.clone()),
                )
                .and_where(Expr::col(customers::Column::Id).eq(*id))
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

/// The named rows besides customers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedTable {
    /// `agents`, by `agent_code`.
    Agents,
    /// `signals`, by `signal_name`.
    Signals,
}

/// Finds or creates agents or signals; returns the row id of every name. Existing rows are only
/// read.
pub async fn upsert_names(
    db: &impl ConnectionTrait,
    table: NamedTable,
    project_id: Uuid,
    seen: &BTreeMap<String, Seen>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Uuid>, StoreError> {
    let names = Named::of(table, project_id);
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
    let (mut ids, _) = names.create(db, rows, seen.keys(), &existing).await?;
    ids.extend(existing.into_iter().map(|(name, (id, _))| (name, id)));
    Ok(ids)
}

/// A table of named rows of a project (customers, agents, signals), unique on `(project_id, name)`.
struct Named {
    /// The columns of a new row: the id, the project, the name, then the rest.
    table: Table,
    id: &'static str,
    project: &'static str,
    name_column: &'static str,
    /// The customers' display name, which `find` reads when asked.
    display_name: Option<&'static str>,
    project_id: Uuid,
}

/// Rows found by name: id and display name.
type Found = HashMap<String, (Uuid, Option<String>)>;

impl Named {
    /// The columns of a new row are `[id, project, name]` then `rest`.
    fn new<C: ColumnTrait>(id: C, project: C, name: C, rest: &[C], project_id: Uuid) -> Self {
        Self {
            table: Table::of([id, project, name].iter().chain(rest).copied()),
            id: id.as_str(),
            project: project.as_str(),
            name_column: name.as_str(),
            display_name: None,
            project_id,
        }
    }

    fn customers(project_id: Uuid) -> Self {
        use customers::Column::*;
        let rest = [
            DisplayName,
            Aliases,
            CreateTime,
            FirstSeenTime,
            LastSeenTime,
        ];
        Self {
            display_name: Some(DisplayName.as_str()),
            ..Self::new(Id, ProjectId, CustomerId, &rest, project_id)
        }
    }

    fn of(table: NamedTable, project_id: Uuid) -> Self {
        match table {
            NamedTable::Agents => {
                use agents::Column::*;
                let rest = [CreateTime, FirstSeenTime, LastSeenTime];
                Self::new(Id, ProjectId, AgentCode, &rest, project_id)
            }
            NamedTable::Signals => {
                use signals::Column::*;
                let rest = [CreateTime, FirstSeenTime, LastSeenTime];
                Self::new(Id, ProjectId, SignalName, &rest, project_id)
            }
        }
    }

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
            .columns([Alias::new(self.id), Alias::new(self.name_column)])
            .from(Alias::new(self.table.name))
            .and_where(Expr::col(Alias::new(self.project)).eq(self.project_id))
            .and_where(Expr::col(Alias::new(self.name_column)).is_in(names))
            .to_owned();
        let display_name = self.display_name.filter(|_| with_display_name);
        if let Some(column) = display_name {
            select.column(Alias::new(column));
        }
        for row in db.query_all(&select).await? {
            let display_name = match display_name {
                Some(column) => row.try_get("", column)?,
                None => None,
            };
            found.insert(
                row.try_get("", self.name_column)?,
                (row.try_get("", self.id)?, display_name),
            );
        }
        Ok(found)
    }

    /// Inserts the missing rows; a row another writer inserted meanwhile is read back. Returns
    /// the ids by name, and the ids of the rows this call inserted.
    async fn create<'a>(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<Expr>>,
        names: impl Iterator<Item = &'a String>,
        existing: &Found,
    ) -> Result<(HashMap<String, Uuid>, HashSet<Uuid>), StoreError> {
        let mut ids = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok((ids, HashSet::new()));
        }
        for chunk in rows.chunks(self.table.rows_per_statement()) {
            let mut insert = self.table.insert(chunk.to_vec());
            insert
                .on_conflict(
                    OnConflict::columns([Alias::new(self.project), Alias::new(self.name_column)])
                        .do_nothing()
                        .to_owned(),
                )
                .returning(
                    Query::returning().columns([Alias::new(self.id), Alias::new(self.name_column)]),
                );
            for row in db.query_all(&insert).await? {
                ids.insert(
                    row.try_get::<String>("", self.name_column)?,
                    row.try_get::<Uuid>("", self.id)?,
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
