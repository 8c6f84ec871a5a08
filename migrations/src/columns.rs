//! Column, index and foreign-key builders shared by the migrations, so that every table spells ids,
//! money, times and tenant keys the same way on SQLite and PostgreSQL.

use sea_orm_migration::{prelude::*, schema};

use crate::m20261129_000001_tenancy::Projects;

/// Builds the primary key of a row: a UUIDv7 made by the application (time-ordered, so bulk inserts
/// append to the index instead of scattering); there is no database default.
pub fn id<T: IntoIden>(col: T) -> ColumnDef {
    schema::pk_uuid(col)
}

/// Builds a required reference to another row's id (`uuid`).
pub fn uuid_ref<T: IntoIden>(col: T) -> ColumnDef {
    schema::uuid(col)
}

/// Builds an optional reference to another row's id (`uuid`, nullable).
pub fn uuid_ref_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::uuid_null(col)
}

/// Builds a required amount of money counted in units of 1e-10 USD (`BIGINT`): exact `SUM` on both
/// databases, up to about 920 million USD per value. Never a float: SQLite stores `DECIMAL` as `REAL`.
pub fn money<T: IntoIden>(col: T) -> ColumnDef {
    schema::big_integer(col)
}

/// Builds an optional amount of money in units of 1e-10 USD (`BIGINT`, nullable: unknown, never 0).
pub fn money_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::big_integer_null(col)
}

/// Builds a counter (or a summed amount) that starts at zero (`BIGINT NOT NULL DEFAULT 0`).
pub fn counter<T: IntoIden>(col: T) -> ColumnDef {
    schema::big_integer(col).default(0).take()
}

/// Builds a required whole number (`BIGINT`).
pub fn number<T: IntoIden>(col: T) -> ColumnDef {
    schema::big_integer(col)
}

/// Builds an optional whole number (`BIGINT`, nullable: absent and 0 differ, e.g. token counts).
pub fn number_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::big_integer_null(col)
}

/// Builds a required instant (`timestamptz` on PostgreSQL, RFC 3339 text on SQLite). The
/// application always supplies it: no `CURRENT_TIMESTAMP` default, whose SQLite text form
/// (`2026-11-29 12:00:00`) would not sort with the values sqlx writes (`2026-11-29T12:00:00+00:00`).
pub fn time<T: IntoIden>(col: T) -> ColumnDef {
    schema::timestamp_with_time_zone(col)
}

/// Builds an optional instant (see [`time`]).
pub fn time_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::timestamp_with_time_zone_null(col)
}

/// Builds a required text column. Enum-like values are UPPER_SNAKE proto value names without their
/// prefix (`PROCESSED`, `BLOCK`), decimals are decimal text (`"0.000000125"`).
pub fn text<T: IntoIden>(col: T) -> ColumnDef {
    schema::text(col)
}

/// Builds an optional text column.
pub fn text_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::text_null(col)
}

/// Builds a flag that starts false.
pub fn flag<T: IntoIden>(col: T) -> ColumnDef {
    schema::boolean(col).default(false).take()
}

/// Builds a required JSON column (`json` on PostgreSQL, which keeps the caller's text and key order;
/// text on SQLite).
pub fn json<T: IntoIden>(col: T) -> ColumnDef {
    schema::json(col)
}

/// Builds an optional JSON column.
pub fn json_null<T: IntoIden>(col: T) -> ColumnDef {
    schema::json_null(col)
}

/// Builds a named foreign key from `table.col` to `parent.parent_col`.
pub fn foreign_key<T, P>(
    table: T,
    col: T,
    parent: P,
    parent_col: P,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    T: Iden + Copy + 'static,
    P: Iden + Copy + 'static,
{
    ForeignKey::create()
        .name(format!(
            "{}_{}_fkey",
            Iden::to_string(&table),
            Iden::to_string(&col)
        ))
        .from(table, col)
        .to(parent, parent_col)
        .on_delete(on_delete)
        .take()
}

/// Builds the foreign key from a tenant-owned row's `project_id` to its project; deleting a project
/// deletes its rows.
pub fn project_fk<T>(table: T, col: T) -> ForeignKeyCreateStatement
where
    T: Iden + Copy + 'static,
{
    foreign_key(
        table,
        col,
        Projects::Table,
        Projects::Id,
        ForeignKeyAction::Cascade,
    )
}

/// Builds a named index over `cols`, created only if missing.
pub fn index<T>(name: &'static str, table: T, cols: &[T]) -> IndexCreateStatement
where
    T: Iden + Copy + 'static,
{
    let mut stmt = Index::create();
    stmt.if_not_exists().name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    stmt.take()
}

/// Builds a named unique index over `cols`, created only if missing. Every key column should be
/// NOT NULL where the index backs an upsert or a lookup by key: NULLs are distinct in unique
/// indexes on both databases.
pub fn unique_index<T>(name: &'static str, table: T, cols: &[T]) -> IndexCreateStatement
where
    T: Iden + Copy + 'static,
{
    index(name, table, cols).unique().take()
}

/// Builds a composite primary key over `cols` (aggregates, whose key is their dimensions).
pub fn primary_key<T>(cols: &[T]) -> IndexCreateStatement
where
    T: Iden + Copy + 'static,
{
    let mut stmt = Index::create();
    for col in cols {
        stmt.col(*col);
    }
    stmt.take()
}

/// Creates each index of `indexes` (if missing).
pub async fn create_indexes(
    manager: &SchemaManager<'_>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for stmt in indexes {
        manager.create_index(stmt).await?;
    }
    Ok(())
}

/// Drops each table of `tables` (if present), in the order given: children before parents.
pub async fn drop_tables<T>(manager: &SchemaManager<'_>, tables: &[T]) -> Result<(), DbErr>
where
    T: Iden + Copy + 'static,
{
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
