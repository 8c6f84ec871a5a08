//! Writes gathered to be sent together: upserts that add to running totals, multi-row updates and
//! plain inserts.
//! On PostgreSQL they go as one statement of data-modifying CTEs (one round trip instead of one
//! per table: ingest sends them while it holds the hot rows' locks, so round trips there are what
//! every other batch waits for), upserts with their rows bound as arrays; on SQLite, which has
//! one writer, one statement each.

use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::{
    Assign, MAX_PARAMETERS, Params, Table,
    arrays::{arrayable, select_rows},
    bulk::chunks,
    names,
};

/// What a part does with its rows.
#[derive(Clone)]
enum Write {
    /// `INSERT (columns) … ON CONFLICT (conflict) DO UPDATE SET v = table.v + excluded.v`: the
    /// table's columns are the keys, then `values`.
    Add {
        conflict: Vec<&'static str>,
        values: Vec<&'static str>,
    },
    /// `UPDATE table SET … FROM (VALUES …) v WHERE table.{columns[0]} = v.{columns[0]}`.
    Update { set: Vec<(&'static str, Assign)> },
    /// `INSERT INTO table (columns) …`.
    Insert,
}

struct Part {
    table: Table,
    write: Write,
    rows: Vec<Vec<Value>>,
}

impl Part {
    /// The part cut so that no piece alone passes the parameter limit.
    fn pieces(self) -> impl Iterator<Item = Self> {
        let Self { table, write, rows } = self;
        chunks(rows, table.rows_per_statement()).map(move |rows| Self {
            table: table.clone(),
            write: write.clone(),
            rows,
        })
    }

    /// The part as the `index`th CTE of a statement, its values moved into `params`.
    fn cte(self, index: usize, params: &mut Params) -> String {
        let Self { table, write, rows } = self;
        let backend = params.backend();
        let source = select_rows(rows, params)
            .unwrap_or_else(|rows| format!("VALUES {}", params.tuples(rows)));
        let (name, columns) = (table.name, table.columns.join(", "));
        match write {
            Write::Add { conflict, values } => {
                let updates: Vec<String> = values
                    .iter()
                    .map(|value| format!("{value} = {}", table.addition(backend, value)))
                    .collect();
                format!(
                    "w{index} AS (INSERT INTO {name} ({columns}) {source} \
                     ON CONFLICT ({conflict}) DO UPDATE SET {updates})",
                    conflict = conflict.join(", "),
                    updates = updates.join(", "),
                )
            }
            Write::Update { set } => format!(
                "v{index} ({columns}) AS ({source}), w{index} AS (UPDATE {name} SET \
                 {assignments} FROM (SELECT * FROM v{index}) v WHERE {name}.{key} = v.{key})",
                assignments = table.assignments(backend, &set),
                key = table.columns[0],
            ),
            Write::Insert => format!("w{index} AS (INSERT INTO {name} ({columns}) {source})"),
        }
    }

    /// Parameters the part binds at most: an array per column and one per column's NULL mask
    /// when it can (see [`select_rows`]).
    fn parameters(&self) -> usize {
        let columns = self.table.columns.len();
        if arrayable(&self.rows) {
            2 * columns
        } else {
            columns * self.rows.len()
        }
    }

    /// The part in statements of its own.
    fn statements(self, backend: DbBackend) -> Vec<Statement> {
        match &self.write {
            Write::Add { conflict, values } => self
                .table
                .add_statements(backend, conflict, values, self.rows),
            Write::Update { set } => self.table.update_statements(backend, set, self.rows),
            Write::Insert => self.table.insert_statements(backend, self.rows, ""),
        }
    }
}

/// Writes to send together, in the order added. Rows of one part must have distinct keys, and
/// two parts must not write the same row (PostgreSQL runs the CTEs of a statement on one snapshot).
#[derive(Default)]
pub struct Writes {
    parts: Vec<Part>,
}

impl Writes {
    /// Adds rows (keys then values, in that column order) to running totals.
    pub fn add<C: ColumnTrait>(&mut self, keys: &[C], values: &[C], rows: Vec<Vec<Value>>) {
        self.add_on(keys, keys, values, rows);
    }

    /// [`add`](Self::add) where the rows' conflict target is `conflict`, some of `keys`.
    pub fn add_on<C: ColumnTrait>(
        &mut self,
        keys: &[C],
        conflict: &[C],
        values: &[C],
        rows: Vec<Vec<Value>>,
    ) {
        let table = Table::of(keys.iter().chain(values).copied());
        self.push(
            table,
            Write::Add {
                conflict: names(conflict.iter().copied()),
                values: names(values.iter().copied()),
            },
            rows,
        );
    }

    /// [`add`](Self::add) to a table that has no entity, named by data (`rollups::Source`).
    pub fn add_named(
        &mut self,
        table: &'static str,
        keys: Vec<&'static str>,
        values: Vec<&'static str>,
        rows: Vec<Vec<Value>>,
    ) {
        let columns = keys.iter().chain(&values).copied().collect();
        self.push(
            Table {
                name: table,
                columns,
            },
            Write::Add {
                conflict: keys,
                values,
            },
            rows,
        );
    }

    /// Updates rows, each with its own values (`columns[0]` the key; see `Table::update_statements`).
    pub fn update<C: ColumnTrait>(
        &mut self,
        columns: &[C],
        set: &[(C, Assign)],
        rows: Vec<Vec<Value>>,
    ) {
        let set = set
            .iter()
            .map(|(column, assign)| (column.as_str(), *assign))
            .collect();
        self.push(
            Table::of(columns.iter().copied()),
            Write::Update { set },
            rows,
        );
    }

    /// Inserts rows (in `table`'s column order). A later part may refer to them (a foreign key
    /// is checked when the whole statement has run).
    pub fn insert(&mut self, table: &Table, rows: Vec<Vec<Value>>) {
        self.push(table.clone(), Write::Insert, rows);
    }

    fn push(&mut self, table: Table, write: Write, rows: Vec<Vec<Value>>) {
        if !rows.is_empty() {
            self.parts.push(Part { table, write, rows });
        }
    }

    /// Sends every write.
    pub async fn execute(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        for statement in self.statements(db.get_database_backend()) {
            db.execute_raw(statement).await?;
        }
        Ok(())
    }

    /// The statements of every write: on PostgreSQL as few as the parameter limit allows.
    fn statements(self, backend: DbBackend) -> Vec<Statement> {
        if backend != DbBackend::Postgres {
            return self
                .parts
                .into_iter()
                .flat_map(|part| part.statements(backend))
                .collect();
        }
        let mut statements = Vec::new();
        let mut statement: Vec<Part> = Vec::new();
        let mut bound = 0;
        for piece in self.parts.into_iter().flat_map(Part::pieces) {
            let size = piece.parameters();
            if bound + size > MAX_PARAMETERS && !statement.is_empty() {
                statements.push(together(std::mem::take(&mut statement)));
                bound = 0;
            }
            bound += size;
            statement.push(piece);
        }
        if !statement.is_empty() {
            statements.push(together(statement));
        }
        statements
    }
}

/// `WITH w0 AS (…), w1 AS (…) SELECT 1`: parts in one PostgreSQL statement.
fn together(parts: Vec<Part>) -> Statement {
    let mut params = Params::new(DbBackend::Postgres);
    let ctes: Vec<String> = parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| part.cte(index, &mut params))
        .collect();
    params.into_statement(format!("WITH {} SELECT 1", ctes.join(", ")))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::{
        entities::{monthly_spend, runs},
        sql::{assert_one, parameters},
    };

    /// An addition to monthly spend and an update of a run's totals.
    fn spend_and_run() -> Writes {
        let mut writes = Writes::default();
        writes.add(
            &[monthly_spend::Column::CustomerId],
            &[monthly_spend::Column::CostE10],
            vec![vec!["ada".into(), 5_i64.into()]],
        );
        use runs::Column::{EventCount, Id, LastEventTime, LoopStep};
        writes.update(
            &[Id, EventCount, LastEventTime, LoopStep],
            &[
                (EventCount, Assign::Add),
                (LastEventTime, Assign::Latest),
                (LoopStep, Assign::Replace),
            ],
            vec![vec![
                Uuid::nil().into(),
                1_i64.into(),
                chrono::DateTime::UNIX_EPOCH.into(),
                4_i64.into(),
            ]],
        );
        writes
    }

    #[test]
    fn writes_go_as_one_statement_of_ctes_on_postgres() {
        assert_one(
            spend_and_run().statements(DbBackend::Postgres),
            "WITH w0 AS (INSERT INTO monthly_spend (customer_id, cost_e10) SELECT c0, c1 FROM \
             unnest($1::text[], $2::int8[]) AS u(c0, c1) ON CONFLICT (customer_id) DO UPDATE \
             SET cost_e10 = monthly_spend.cost_e10 + excluded.cost_e10), \
             v1 (id, event_count, last_event_time, loop_step) AS (SELECT c0, c1, c2, c3 FROM \
             unnest($3::uuid[], $4::int8[], $5::timestamptz[], $6::int8[]) AS u(c0, c1, c2, c3)), \
             w1 AS (UPDATE runs SET event_count = runs.event_count + v.event_count, \
             last_event_time = CASE WHEN v.last_event_time IS NOT NULL AND \
             (runs.last_event_time IS NULL OR runs.last_event_time < v.last_event_time) \
             THEN v.last_event_time ELSE runs.last_event_time END, loop_step = v.loop_step \
             FROM (SELECT * FROM v1) v WHERE runs.id = v.id) SELECT 1",
            6,
        );
    }

    #[test]
    fn inserts_go_with_the_other_writes_as_ctes() {
        use crate::store::entities::agents::Column::{AgentCode, Id};
        let mut writes = Writes::default();
        writes.insert(
            &Table::of([Id, AgentCode]),
            vec![vec![Uuid::nil().into(), "triage".into()]],
        );
        writes.add(
            &[monthly_spend::Column::AgentCode],
            &[monthly_spend::Column::CostE10],
            vec![vec!["triage".into(), 5_i64.into()]],
        );
        assert_one(
            writes.statements(DbBackend::Postgres),
            "WITH w0 AS (INSERT INTO agents (id, agent_code) SELECT c0, c1 FROM \
             unnest($1::uuid[], $2::text[]) AS u(c0, c1)), w1 AS (INSERT INTO monthly_spend \
             (agent_code, cost_e10) SELECT c0, c1 FROM unnest($3::text[], $4::int8[]) AS u(c0, c1) \
             ON CONFLICT (agent_code) DO UPDATE SET cost_e10 = monthly_spend.cost_e10 + \
             excluded.cost_e10) SELECT 1",
            4,
        );
    }

    /// Each part as `Table::add_statements` and `Table::update_statements` make it (their
    /// tests read the text).
    #[test]
    fn writes_go_one_statement_each_on_sqlite() {
        let statements = spend_and_run().statements(DbBackend::Sqlite);
        let made: Vec<(&str, usize)> = statements
            .iter()
            .map(|statement| (&statement.sql[..24], parameters(statement)))
            .collect();
        assert_eq!(
            made,
            [
                ("INSERT INTO \"monthly_spe", 2),
                ("WITH v (id, event_count,", 4)
            ]
        );
    }

    /// Monthly spend rows whose cost is an `f64`, which has no array type here: each value is
    /// bound alone, two parameters a row.
    fn spend_bound_by_value(writes: &mut Writes, rows: usize) {
        writes.add(
            &[monthly_spend::Column::CustomerId],
            &[monthly_spend::Column::CostE10],
            (0..rows)
                .map(|row| vec![format!("customer-{row}").into(), 1.5_f64.into()])
                .collect(),
        );
    }

    #[test]
    fn parts_past_the_parameter_limit_go_in_another_statement() {
        let mut writes = Writes::default();
        spend_bound_by_value(&mut writes, 10_000);
        spend_bound_by_value(&mut writes, 10_000);
        let statements = writes.statements(DbBackend::Postgres);
        assert_eq!(statements.len(), 2);
        for statement in &statements {
            assert!(statement.sql.starts_with(
                "WITH w0 AS (INSERT INTO monthly_spend (customer_id, cost_e10) VALUES ($1, $2), \
                 ($3, $4), "
            ));
            assert!(!statement.sql.contains("w1 AS"));
            assert_eq!(parameters(statement), 20_000);
        }
    }

    #[test]
    fn a_part_past_the_parameter_limit_is_cut_into_pieces() {
        let mut writes = Writes::default();
        spend_bound_by_value(&mut writes, 20_000);
        let statements = writes.statements(DbBackend::Postgres);
        let sizes: Vec<usize> = statements.iter().map(parameters).collect();
        assert_eq!(sizes, [MAX_PARAMETERS, 10_000]);
        let mut writes = Writes::default();
        writes.add(
            &[monthly_spend::Column::CustomerId],
            &[monthly_spend::Column::CostE10],
            (0..40_000)
                .map(|row| vec![format!("customer-{row}").into(), 1_i64.into()])
                .collect(),
        );
        let [statement] = &writes.statements(DbBackend::Postgres)[..] else {
            panic!("arrays bind few parameters: one statement");
        };
        assert!(
            statement
                .sql
                .contains("), w2 AS (INSERT INTO monthly_spend")
        );
        assert!(!statement.sql.contains("w3 AS"));
        assert_eq!(parameters(statement), 6);
    }
}
