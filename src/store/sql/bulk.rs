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
    pub(super) fn insert_statements(
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

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::ArrayType;
    use uuid::Uuid;

    use super::*;
    use crate::store::{
        entities::{agents, monthly_spend, runs},
        sql::{assert_one, parameters},
    };

    const POSTGRES: DbBackend = DbBackend::Postgres;
    const SQLITE: DbBackend = DbBackend::Sqlite;

    fn agents() -> Table {
        Table::of([agents::Column::Id, agents::Column::AgentCode])
    }

    fn agent_rows(count: usize) -> Vec<Vec<Value>> {
        (0..count)
            .map(|index| vec![Uuid::nil().into(), format!("agent-{index}").into()])
            .collect()
    }

    fn spend() -> Table {
        Table::of([
            monthly_spend::Column::CustomerId,
            monthly_spend::Column::CostE10,
        ])
    }

    #[test]
    fn a_table_takes_its_names_from_the_entity() {
        assert_eq!(agents().name, "agents");
        assert_eq!(agents().columns, ["id", "agent_code"]);
        assert_eq!(agents().rows_per_statement(), 15_000);
    }

    #[test]
    fn a_multi_row_insert_binds_an_array_per_column_on_postgres_and_each_value_on_sqlite() {
        assert_one(
            agents().insert_statements(POSTGRES, agent_rows(2), ""),
            "INSERT INTO agents (id, agent_code) SELECT c0, c1 FROM unnest($1::uuid[], \
             $2::text[]) AS u(c0, c1) ",
            2,
        );
        assert_one(
            agents().insert_statements(SQLITE, agent_rows(2), ""),
            "INSERT INTO agents (id, agent_code) VALUES (?1, ?2), (?3, ?4) ",
            4,
        );
    }

    #[test]
    fn an_insert_of_new_rows_skips_taken_keys_and_returns_the_rows_inserted() {
        use runs::Column::{Id, ProjectId, RunKey};
        let table = Table::of([Id, ProjectId, RunKey]);
        let tail = table.skip_taken(&[ProjectId, RunKey], &[Id, RunKey]);
        let row = || vec![vec![Uuid::nil().into(), Uuid::nil().into(), "run".into()]];
        assert_one(
            table.insert_statements(POSTGRES, row(), &tail),
            "INSERT INTO runs (id, project_id, run_key) SELECT c0, c1, c2 FROM \
             unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(c0, c1, c2) \
             ON CONFLICT (project_id, run_key) DO NOTHING RETURNING id, run_key",
            3,
        );
        assert_one(
            table.insert_statements(SQLITE, row(), &tail),
            "INSERT INTO runs (id, project_id, run_key) VALUES (?1, ?2, ?3) \
             ON CONFLICT (project_id, run_key) DO NOTHING RETURNING id, run_key",
            3,
        );
    }

    #[test]
    fn rows_past_the_parameter_limit_take_more_statements_on_sqlite_only() {
        let mut sqlite = agents().insert_statements(SQLITE, agent_rows(15_001), "");
        assert_eq!(sqlite.len(), 2);
        assert_eq!(parameters(&sqlite[0]), MAX_PARAMETERS);
        assert!(sqlite[0].sql.ends_with(", (?29999, ?30000) "));
        assert_one(
            sqlite.split_off(1),
            "INSERT INTO agents (id, agent_code) VALUES (?1, ?2) ",
            2,
        );
        let postgres = agents().insert_statements(POSTGRES, agent_rows(15_001), "");
        assert_eq!(postgres.len(), 1);
        assert_eq!(parameters(&postgres[0]), 2);
    }

    #[test]
    fn a_column_with_nulls_is_bound_with_its_mask_on_postgres() {
        let table = Table::of([runs::Column::Id, runs::Column::UserId]);
        let rows = vec![
            vec![Uuid::nil().into(), Some("ada".to_owned()).into()],
            vec![Uuid::nil().into(), Value::String(None)],
        ];
        let statements = table.insert_statements(POSTGRES, rows, "");
        let mask = Value::Array(
            ArrayType::Bool,
            Some(Box::new(vec![false.into(), true.into()])),
        );
        assert_eq!(statements[0].values.as_ref().map(|v| &v.0[2]), Some(&mask));
        assert_one(
            statements,
            "INSERT INTO runs (id, user_id) SELECT c0, CASE WHEN n1 THEN NULL ELSE c1 END FROM \
             unnest($1::uuid[], $2::text[], $3::bool[]) AS u(c0, c1, n1) ",
            3,
        );
    }

    #[test]
    fn rows_postgres_cannot_bind_as_arrays_go_as_values() {
        // `f64` has no array type here.
        let rows = vec![vec!["ada".into(), 1.5_f64.into()]];
        assert_one(
            spend().insert_statements(POSTGRES, rows, ""),
            "INSERT INTO monthly_spend (customer_id, cost_e10) VALUES ($1, $2) ",
            2,
        );
    }

    #[test]
    fn an_upsert_adds_to_the_stored_totals_and_sqlite_checks_the_sum_for_overflow() {
        let add = |backend| {
            let rows = vec![
                vec!["ada".into(), 5_i64.into()],
                vec!["bob".into(), 7_i64.into()],
            ];
            spend().add_statements(backend, &["customer_id"], &["cost_e10"], rows)
        };
        let insert = r#"INSERT INTO "monthly_spend" ("customer_id", "cost_e10")"#;
        let on_conflict = r#"ON CONFLICT ("customer_id") DO UPDATE SET "cost_e10" ="#;
        assert_one(
            add(POSTGRES),
            &format!(
                "{insert} VALUES ($1, $2), ($3, $4) {on_conflict} \
                 monthly_spend.cost_e10 + excluded.cost_e10"
            ),
            4,
        );
        assert_one(
            add(SQLITE),
            &format!(
                "{insert} VALUES (?, ?), (?, ?) {on_conflict} (SELECT sum(x) FROM \
                 (SELECT monthly_spend.cost_e10 AS x UNION ALL SELECT excluded.cost_e10))"
            ),
            4,
        );
    }
}
