//! Writes gathered to be sent together: upserts that add to running totals and multi-row updates.
//! On PostgreSQL they go as one statement of data-modifying CTEs (one round trip instead of one
//! per table: ingest sends them while it holds the hot rows' locks, so round trips there are what
//! every other batch waits for), upserts with their rows bound as arrays; on SQLite, which has
//! one writer, one statement each.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};

use super::{
    MAX_PARAMETERS, Params, Table, added,
    arrays::{arrayable, select_rows},
    bulk::update_rows,
    val,
};

enum Part {
    /// `INSERT (keys, values) … ON CONFLICT (conflict) DO UPDATE SET v = table.v + excluded.v`.
    Add {
        table: &'static str,
        keys: Vec<&'static str>,
        conflict: Vec<&'static str>,
        values: Vec<&'static str>,
        rows: Vec<Vec<Value>>,
    },
    /// `UPDATE table SET … FROM (VALUES …) v WHERE table.{columns[0]} = v.{columns[0]}`; the set
    /// expressions read the stored row as `table.column` and the new values as `v.column`.
    Update {
        table: &'static str,
        columns: Vec<&'static str>,
        set: Vec<(&'static str, String)>,
        rows: Vec<Vec<Value>>,
    },
}

impl Part {
    fn columns(&self) -> usize {
        match self {
            Self::Add { keys, values, .. } => keys.len() + values.len(),
            Self::Update { columns, .. } => columns.len(),
        }
    }

    fn rows_len(&self) -> usize {
        match self {
            Self::Add { rows, .. } | Self::Update { rows, .. } => rows.len(),
        }
    }

    fn rows(&mut self) -> &mut Vec<Vec<Value>> {
        match self {
            Self::Add { rows, .. } | Self::Update { rows, .. } => rows,
        }
    }

    /// A part with the same target and `rows`.
    fn with_rows(&self, rows: Vec<Vec<Value>>) -> Self {
        match self {
            Self::Add {
                table,
                keys,
                conflict,
                values,
                ..
            } => Self::Add {
                table,
                keys: keys.clone(),
                conflict: conflict.clone(),
                values: values.clone(),
                rows,
            },
            Self::Update {
                table,
                columns,
                set,
                ..
            } => Self::Update {
                table,
                columns: columns.clone(),
                set: set.clone(),
                rows,
            },
        }
    }

    /// The part as the `index`th CTE of a statement, its values moved into `params`.
    fn cte(self, index: usize, params: &mut Params) -> String {
        match self {
            Self::Add {
                table,
                keys,
                conflict,
                values,
                rows,
            } => {
                let updates: Vec<String> = values
                    .iter()
                    .map(|v| {
                        let sum = added(
                            params.backend(),
                            &format!("{table}.{v}"),
                            &format!("excluded.{v}"),
                        );
                        format!("{v} = {sum}")
                    })
                    .collect();
                let source = select_rows(rows, params)
                    .unwrap_or_else(|rows| format!("VALUES {}", params.tuples(&rows)));
                format!(
                    "w{index} AS (INSERT INTO {table} ({keys}, {values}) {source} \
                     ON CONFLICT ({conflict}) DO UPDATE SET {updates})",
                    keys = keys.join(", "),
                    conflict = conflict.join(", "),
                    values = values.join(", "),
                    updates = updates.join(", "),
                )
            }
            Self::Update {
                table,
                columns,
                set,
                rows,
            } => {
                let assignments: Vec<String> = set
                    .iter()
                    .map(|(column, value)| format!("{column} = {value}"))
                    .collect();
                let source = select_rows(rows, params)
                    .unwrap_or_else(|rows| format!("VALUES {}", params.tuples(&rows)));
                format!(
                    "v{index} ({columns}) AS ({source}), w{index} AS (UPDATE {table} SET \
                     {assignments} FROM (SELECT * FROM v{index}) v WHERE {table}.{key} = v.{key})",
                    columns = columns.join(", "),
                    assignments = assignments.join(", "),
                    key = columns[0],
                )
            }
        }
    }

    /// Parameters the part binds at most: an array per column and one per column's NULL mask
    /// when it can (see [`select_rows`]).
    fn parameters(&self) -> usize {
        match self {
            Self::Add { rows, .. } | Self::Update { rows, .. } if arrayable(rows) => {
                2 * self.columns()
            }
            _ => self.columns() * self.rows_len(),
        }
    }

    async fn execute_alone(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        match self {
            Self::Add {
                table,
                keys,
                conflict,
                values,
                rows,
            } => {
                let columns: Vec<&str> = keys.iter().chain(&values).copied().collect();
                let rows = rows
                    .into_iter()
                    .map(|row| row.into_iter().map(val).collect())
                    .collect();
                Table {
                    name: table,
                    columns: &columns,
                }
                .add_all(db, &conflict, &values, rows)
                .await
            }
            Self::Update {
                table,
                columns,
                set,
                rows,
            } => update_rows(db, table, &columns, &set, &rows).await,
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
    pub fn add(
        &mut self,
        table: &'static str,
        keys: &[&'static str],
        values: &[&'static str],
        rows: Vec<Vec<Value>>,
    ) {
        self.add_on(table, keys, keys, values, rows);
    }

    /// [`add`](Self::add) where the rows' conflict target is `conflict`, some of `keys`.
    pub fn add_on(
        &mut self,
        table: &'static str,
        keys: &[&'static str],
        conflict: &[&'static str],
        values: &[&'static str],
        rows: Vec<Vec<Value>>,
    ) {
        if !rows.is_empty() {
            self.parts.push(Part::Add {
                table,
                keys: keys.to_vec(),
                conflict: conflict.to_vec(),
                values: values.to_vec(),
                rows,
            });
        }
    }

    /// Updates rows, each with its own values (see `bulk::update_rows`).
    pub fn update(
        &mut self,
        table: &'static str,
        columns: &[&'static str],
        set: Vec<(&'static str, String)>,
        rows: Vec<Vec<Value>>,
    ) {
        if !rows.is_empty() {
            self.parts.push(Part::Update {
                table,
                columns: columns.to_vec(),
                set,
                rows,
            });
        }
    }

    /// Sends every write: as few statements as the parameter limit allows on PostgreSQL.
    pub async fn execute(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            for part in self.parts {
                part.execute_alone(db).await?;
            }
            return Ok(());
        }
        // Parts cut so that none alone passes the limit, then packed into statements.
        let mut pieces = Vec::new();
        for mut part in self.parts {
            let per_piece = (MAX_PARAMETERS / part.columns().max(1)).max(1);
            let rows = std::mem::take(part.rows());
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                pieces.push(part.with_rows(rows.by_ref().take(per_piece).collect()));
            }
        }
        let mut statement: Vec<Part> = Vec::new();
        let mut bound = 0;
        for piece in pieces {
            let size = piece.parameters();
            if bound + size > MAX_PARAMETERS && !statement.is_empty() {
                send(db, std::mem::take(&mut statement)).await?;
                bound = 0;
            }
            bound += size;
            statement.push(piece);
        }
        if !statement.is_empty() {
            send(db, statement).await?;
        }
        Ok(())
    }
}

async fn send(db: &impl ConnectionTrait, parts: Vec<Part>) -> Result<(), DbErr> {
    let mut params = Params::new(DbBackend::Postgres);
    let ctes: Vec<String> = parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| part.cte(index, &mut params))
        .collect();
    let sql = format!("WITH {} SELECT 1", ctes.join(", "));
    db.execute_raw(params.into_statement(sql)).await?;
    Ok(())
}
