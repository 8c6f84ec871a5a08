//! What the store's hand-written SQL shares: bound parameters ([`Params`]), the bulk writes
//! ([`Table`], [`Writes`]: tables and columns named by the entities) and the expressions both
//! databases need in their own words.

mod arrays;
mod bulk;
mod update;
mod writes;

use sea_orm::{ColumnTrait, EntityName, IdenStatic, sea_query::Expr};

pub use bulk::Table;
pub use update::Assign;
pub use writes::Writes;

/// Bound parameters per statement: SQLite accepts 32,766 and PostgreSQL 65,535.
pub(crate) const MAX_PARAMETERS: usize = 30_000;

/// The sum of a `BIGINT` expression as a `BIGINT`, `0` over no rows: `tally_sum` on PostgreSQL
/// (migration 000009; its own `SUM` goes through `numeric`), `SUM` on SQLite.
pub fn sum_bigint(backend: sea_orm::DbBackend, expression: &str) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("tally_sum({expression})"),
        _ => format!("CAST(COALESCE(SUM({expression}), 0) AS BIGINT)"),
    }
}

/// `stored + added` for a running total. SQLite turns an integer sum that overflows into a float
/// without a word, so there the sum goes through `sum()`, which raises "integer overflow";
/// PostgreSQL raises "bigint out of range" itself.
fn added(backend: sea_orm::DbBackend, stored: &str, added: &str) -> String {
    match backend {
        sea_orm::DbBackend::Sqlite => {
            format!("(SELECT sum(x) FROM (SELECT {stored} AS x UNION ALL SELECT {added}))")
        }
        _ => format!("{stored} + {added}"),
    }
}

/// The names of columns, as their entity gives them.
pub fn names<C: IdenStatic>(columns: impl IntoIterator<Item = C>) -> Vec<&'static str> {
    columns.into_iter().map(|column| column.as_str()).collect()
}

/// The table of an entity's columns.
fn table_of<C: ColumnTrait>() -> &'static str {
    C::EntityName::default().table_name()
}

/// How many values a statement binds, for the tests of the SQL made here.
#[cfg(test)]
fn parameters(statement: &sea_orm::Statement) -> usize {
    statement.values.as_ref().map_or(0, |values| values.0.len())
}

/// Checks that `statements` are one statement of this text and number of parameters.
#[cfg(test)]
#[track_caller]
fn assert_one(statements: Vec<sea_orm::Statement>, sql: &str, bound: usize) {
    let [statement] = &statements[..] else {
        panic!("{} statements, not one", statements.len());
    };
    assert_eq!(statement.sql, sql);
    assert_eq!(parameters(statement), bound, "parameters of {sql}");
}

/// A value for a bound parameter.
pub fn val(value: impl Into<sea_orm::Value>) -> Expr {
    Expr::val(value.into())
}

/// Bound parameters of a hand-written statement, numbered (`$1` on PostgreSQL, `?1` on SQLite) so
/// that one value may be referred to more than once.
pub struct Params {
    backend: sea_orm::DbBackend,
    values: Vec<sea_orm::Value>,
}

impl Params {
    pub fn new(backend: sea_orm::DbBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// `(…), (…)`: each row's values bound (moved, not copied), for a `VALUES` list.
    pub fn tuples(&mut self, rows: impl IntoIterator<Item = Vec<sea_orm::Value>>) -> String {
        let tuples: Vec<String> = rows
            .into_iter()
            .map(|row| {
                let placeholders: Vec<String> =
                    row.into_iter().map(|value| self.bind(value)).collect();
                format!("({})", placeholders.join(", "))
            })
            .collect();
        tuples.join(", ")
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: impl Into<sea_orm::Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            sea_orm::DbBackend::Postgres => format!("${}", self.values.len()),
            _ => format!("?{}", self.values.len()),
        }
    }

    /// A membership test of a text column in `values`, to follow the column: `= ANY($n::text[])`
    /// on PostgreSQL (one parameter, so one statement text and cheap binding whatever the count),
    /// `IN (?n, …)` on SQLite, which has no arrays. `values` must not be empty.
    pub fn in_texts(&mut self, values: Vec<String>) -> String {
        match self.backend {
            sea_orm::DbBackend::Postgres => {
                let array = sea_orm::Value::Array(
                    sea_orm::sea_query::ArrayType::String,
                    Some(Box::new(values.into_iter().map(Into::into).collect())),
                );
                format!("= ANY({}::text[])", self.bind(array))
            }
            _ => {
                let placeholders: Vec<String> =
                    values.into_iter().map(|value| self.bind(value)).collect();
                format!("IN ({})", placeholders.join(", "))
            }
        }
    }

    /// The database the statement is for.
    pub fn backend(&self) -> sea_orm::DbBackend {
        self.backend
    }

    /// The statement with its values.
    pub fn statement(&self, sql: String) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, sql, self.values.clone())
    }

    /// [`Self::statement`], the values moved rather than copied.
    pub fn into_statement(self, sql: String) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, sql, self.values)
    }

    /// How many values are bound.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Drops the values bound after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }
}
