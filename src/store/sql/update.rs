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

#[cfg(test)]
mod tests {
    use sea_orm::IdenStatic;
    use uuid::Uuid;

    use super::*;
    use crate::store::{entities::runs, sql::assert_one};

    #[test]
    fn an_update_of_many_rows_joins_them_on_the_first_column() {
        use runs::Column::{EventCount, FirstEventTime, Id};
        let table = Table::of([Id, EventCount, FirstEventTime]);
        let set = [
            (EventCount.as_str(), Assign::Add),
            (FirstEventTime.as_str(), Assign::Earliest),
        ];
        let time = chrono::DateTime::UNIX_EPOCH;
        let rows = vec![
            vec![Uuid::nil().into(), 2_i64.into(), time.into()],
            vec![Uuid::max().into(), 3_i64.into(), time.into()],
        ];
        assert_one(
            table.update_statements(DbBackend::Sqlite, &set, rows),
            "WITH v (id, event_count, first_event_time) AS (VALUES (?1, ?2, ?3), (?4, ?5, ?6)) \
             UPDATE runs SET event_count = (SELECT sum(x) FROM (SELECT runs.event_count AS x \
             UNION ALL SELECT v.event_count)), first_event_time = CASE WHEN v.first_event_time \
             IS NOT NULL AND (runs.first_event_time IS NULL OR runs.first_event_time > \
             v.first_event_time) THEN v.first_event_time ELSE runs.first_event_time END \
             FROM v WHERE runs.id = v.id",
            6,
        );
    }
}
