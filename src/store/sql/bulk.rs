//! Multi-row writes: inserts (with an `ON CONFLICT … RETURNING` tail), "add to the running
//! total" upserts and updates of many rows, each cut into statements both databases accept.

use sea_orm::{
    ConnectionTrait, DbErr, QueryResult,
    sea_query::{Alias, Expr, InsertStatement, OnConflict, Query},
};

use super::{MAX_PARAMETERS, Params, added, arrays::select_rows};

/// A table and its columns, for multi-row inserts.
pub struct Table<'a> {
    pub name: &'a str,
    pub columns: &'a [&'a str],
}

impl Table<'_> {
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

    /// Inserts every row: on PostgreSQL in one statement, the rows bound as arrays
    /// (`arrays`); elsewhere in as many multi-row statements as the parameter limit needs.
    pub async fn insert_all(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<sea_orm::Value>>,
    ) -> Result<(), DbErr> {
        self.insert_with(db, rows, "").await.map(drop)
    }

    /// [`Self::insert_all`] with `tail` (`ON CONFLICT …`, `RETURNING …`) after each statement;
    /// the rows the statements return.
    pub async fn insert_with(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<Vec<sea_orm::Value>>,
        tail: &str,
    ) -> Result<Vec<QueryResult>, DbErr> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let backend = db.get_database_backend();
        let into = format!("INSERT INTO {} ({})", self.name, self.columns.join(", "));
        let rows = if backend == sea_orm::DbBackend::Postgres {
            let mut params = Params::new(backend);
            match select_rows(rows, &mut params) {
                Ok(select) => {
                    return db
                        .query_all_raw(params.into_statement(format!("{into} {select} {tail}")))
                        .await;
                }
                Err(rows) => rows,
            }
        } else {
            rows
        };
        let mut returned = Vec::new();
        for chunk in rows.chunks(self.rows_per_statement()) {
            let mut params = Params::new(backend);
            let sql = format!("{into} VALUES {} {tail}", params.tuples(chunk));
            returned.extend(db.query_all_raw(params.into_statement(sql)).await?);
        }
        Ok(returned)
    }

    /// Upserts rows that add their `values` columns to the stored ones on a `keys` conflict:
    /// `ON CONFLICT (keys) DO UPDATE SET v = table.v + excluded.v`. Rows must have distinct keys.
    pub async fn add_all(
        &self,
        db: &impl ConnectionTrait,
        keys: &[&str],
        values: &[&str],
        rows: Vec<Vec<Expr>>,
    ) -> Result<(), DbErr> {
        let mut on_conflict = OnConflict::columns(keys.iter().map(|k| Alias::new(*k)));
        for value in values {
            let sum = added(
                db.get_database_backend(),
                &format!("{}.{value}", self.name),
                &format!("excluded.{value}"),
            );
            on_conflict.value(Alias::new(*value), Expr::cust(sum));
        }
        let per_statement = self.rows_per_statement();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(per_statement).collect();
            let mut insert = self.insert(chunk);
            insert.on_conflict(on_conflict.clone());
            db.execute(&insert).await?;
        }
        Ok(())
    }
}

/// Updates many rows in one statement, each with its own values:
/// `WITH v(c1, c2, …) AS (VALUES (…), (…)) UPDATE table SET … FROM v WHERE table.c1 = v.c1`.
/// `columns[0]` is the row's key; each `set` pair is a column and its new value, an expression
/// over `table.column` (the stored value) and `v.column` (the row's). One statement instead of one
/// per row: on a network round trip per statement, that is most of a batch's time.
pub(super) async fn update_rows(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[&str],
    set: &[(&str, String)],
    rows: &[Vec<sea_orm::Value>],
) -> Result<(), DbErr> {
    let per_statement = (MAX_PARAMETERS / columns.len().max(1)).max(1);
    let assignments: Vec<String> = set
        .iter()
        .map(|(column, value)| format!("{column} = {value}"))
        .collect();
    for chunk in rows.chunks(per_statement) {
        let mut params = Params::new(db.get_database_backend());
        let tuples = params.tuples(chunk);
        let sql = format!(
            "WITH v ({columns}) AS (VALUES {tuples}) UPDATE {table} SET {assignments} FROM v \
             WHERE {table}.{key} = v.{key}",
            columns = columns.join(", "),
            assignments = assignments.join(", "),
            key = columns[0],
        );
        db.execute_raw(params.into_statement(sql)).await?;
    }
    Ok(())
}
