//! Multi-row inserts (with an `ON CONFLICT … RETURNING` tail) and "add to the running total"
//! upserts, cut into statements both databases accept (updates of many rows: `update`). The
//! statements are made apart from sending them, so that tests read the SQL without a database.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value,
    sea_query::{Alias, Expr, InsertStatement, OnConflict, Query},
};

use super::{MAX_PARAMETERS, Params, added, arrays::select_rows, names, table_of, val};

/// A table and the columns a write gives values for, in the order of each row's values. Made from
/// an entity's `Column`s ([`Table::of`]), so that a renamed or dropped column fails to compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<&'static str>,
}

impl Table {
    /// `columns`, in this order, of their entity's table.
    pub fn of<C: ColumnTrait>(columns: impl IntoIterator<Item = C>) -> Self {
        Self {
            name: table_of::<C>(),
            columns: names(columns),
        }
    }

    /// An `INSERT` of `rows` (each with one value per column) with no conflict handling.
    pub fn insert(&self, rows: impl IntoIterator<Item = Vec<Expr>>) -> InsertStatement {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(self.name))
            .columns(self.columns.iter().map(|c| Alias::new(*c)));
        for row in rows {
            insert.values_panic(row);
        }
        insert
    }

    /// How many rows fit in one statement.
    pub fn rows_per_statement(&self) -> usize {
        (MAX_PARAMETERS / self.columns.len().max(1)).max(1)
    }

    /// Inserts every row: on PostgreSQL in one statement, the rows bound as arrays (`arrays`);
    /// elsewhere in as many multi-row statements as the parameter limit needs.
    pub async fn insert_all(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<Value>>,
    ) -> Result<(), DbErr> {
        self.insert_with(db, rows, "").await.map(drop)
    }

    /// [`Self::insert_all`] of the rows whose `unique` key no stored row holds (`ON CONFLICT …
    /// DO NOTHING`: the unique index decides, also against a concurrent writer); the `returning`
    /// columns of the rows inserted.
    pub async fn insert_new<C: ColumnTrait>(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<Value>>,
        unique: &[C],
        returning: &[C],
    ) -> Result<Vec<QueryResult>, DbErr> {
        self.insert_with(db, rows, &self.skip_taken(unique, returning))
            .await
    }

    /// The tail of [`Self::insert_new`].
    fn skip_taken<C: ColumnTrait>(&self, unique: &[C], returning: &[C]) -> String {
        debug_assert_eq!(table_of::<C>(), self.name, "columns of another table");
        format!(
            "ON CONFLICT ({}) DO NOTHING RETURNING {}",
            names(unique.iter().copied()).join(", "),
            names(returning.iter().copied()).join(", ")
        )
    }

    /// Sends the statements of [`Self::insert_statements`]; the rows they return.
    async fn insert_with(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<Value>>,
        tail: &str,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let mut returned = Vec::new();
        for statement in self.insert_statements(db.get_database_backend(), rows, tail) {
            returned.extend(db.query_all_raw(statement).await?);
        }
        Ok(returned)
    }

    /// `INSERT`s of every row with `tail` (`ON CONFLICT …`, `RETURNING …`) after each.
    fn insert_statements(
        &self,
        backend: DbBackend,
        rows: Vec<Vec<Value>>,
        tail: &str,
    ) -> Vec<Statement> {
        if rows.is_empty() {
            return Vec::new();
        }
        let into = format!("INSERT INTO {} ({})", self.name, self.columns.join(", "));
        let rows = if backend == DbBackend::Postgres {
            let mut params = Params::new(backend);
            match select_rows(rows, &mut params) {
                Ok(select) => {
                    return vec![params.into_statement(format!("{into} {select} {tail}"))];
                }
                Err(rows) => rows,
            }
        } else {
            rows
        };
        chunks(rows, self.rows_per_statement())
            .map(|chunk| {
                let mut params = Params::new(backend);
                let sql = format!("{into} VALUES {} {tail}", params.tuples(chunk));
                params.into_statement(sql)
            })
            .collect()
    }

    /// Upserts that add the rows' `values` columns (the table's last) to the stored ones on a
    /// `conflict` key: `ON CONFLICT (…) DO UPDATE SET v = table.v + excluded.v`. Rows must have
    /// distinct keys.
    pub(super) fn add_statements(
        &self,
        backend: DbBackend,
        conflict: &[&str],
        values: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Vec<Statement> {
        let mut on_conflict = OnConflict::columns(conflict.iter().map(|k| Alias::new(*k)));
        for value in values {
            on_conflict.value(
                Alias::new(*value),
                Expr::cust(self.addition(backend, value)),
            );
        }
        chunks(rows, self.rows_per_statement())
            .map(|chunk| {
                let mut insert = self.insert(
                    chunk
                        .into_iter()
                        .map(|row| row.into_iter().map(val).collect()),
                );
                insert.on_conflict(on_conflict.clone());
                backend.build(&insert)
            })
            .collect()
    }

    /// The stored `value` plus the inserted one, in an upsert's `DO UPDATE`.
    pub(super) fn addition(&self, backend: DbBackend, value: &str) -> String {
        added(
            backend,
            &format!("{}.{value}", self.name),
            &format!("excluded.{value}"),
        )
    }
}

/// `rows` in chunks of at most `size`, moved rather than copied.
pub(super) fn chunks(rows: Vec<Vec<Value>>, size: usize) -> impl Iterator<Item = Vec<Vec<Value>>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()
            .is_some()
            .then(|| rows.by_ref().take(size).collect())
    })
}
