//! Updates of many rows in one statement, each row with its own values, and how each column
//! takes the row's value ([`Assign`]).

use sea_orm::{DbBackend, Statement, Value};

use super::{Params, Table, added, bulk::chunks};

impl Table {
    /// Updates of many rows, each with its own values:
    /// `WITH v(c1, c2, …) AS (VALUES (…), (…)) UPDATE table SET … FROM v WHERE table.c1 = v.c1`.
    /// `columns[0]` is the row's key; `set` says how each column takes the row's value. One
    /// statement instead of one per row: on a network round trip per statement, that is most of
    /// a batch's time.
    pub(super) fn update_statements(
        &self,
        backend: DbBackend,
        set: &[(&str, Assign)],
        rows: Vec<Vec<Value>>,
    ) -> Vec<Statement> {
        let assignments = self.assignments(backend, set);
        chunks(rows, self.rows_per_statement())
            .map(|chunk| {
                let mut params = Params::new(backend);
                let sql = format!(
                    "WITH v ({columns}) AS (VALUES {tuples}) UPDATE {table} SET {assignments} \
                     FROM v WHERE {table}.{key} = v.{key}",
                    columns = self.columns.join(", "),
                    tuples = params.tuples(chunk),
                    table = self.name,
                    key = self.columns[0],
                );
                params.into_statement(sql)
            })
            .collect()
    }

    /// `column = …, …` of an update of this table from rows named `v`.
    pub(super) fn assignments(&self, backend: DbBackend, set: &[(&str, Assign)]) -> String {
        let assignments: Vec<String> = set
            .iter()
            .map(|(column, assign)| {
                format!("{column} = {}", assign.value(backend, self.name, column))
            })
            .collect();
        assignments.join(", ")
    }
}

/// How an update of many rows sets a column from the row's value (`v.column`) and the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assign {
    /// The row's value.
    Replace,
    /// The stored value plus the row's ([`added`]: an overflow fails on both databases).
    Add,
    /// The earlier of the two times; the stored one where the row has none.
    Earliest,
    /// The later of the two times; the stored one where the row has none.
    Latest,
}

impl Assign {
    /// The new value of `table.column`.
    fn value(self, backend: DbBackend, table: &str, column: &str) -> String {
        let (stored, row) = (format!("{table}.{column}"), format!("v.{column}"));
        let row_when_stored_is = |order: &str| {
            format!(
                "CASE WHEN {row} IS NOT NULL AND ({stored} IS NULL OR {stored} {order} {row}) \
                 THEN {row} ELSE {stored} END"
            )
        };
        match self {
            Self::Replace => row,
            Self::Add => added(backend, &stored, &row),
            Self::Earliest => row_when_stored_is(">"),
            Self::Latest => row_when_stored_is("<"),
        }
    }
}
