//! Applies the schema migrations, one migrator at a time. Replicas and `tally migrate` jobs may start
//! together on an empty database, and two migrators creating the same table at once fail (PostgreSQL:
//! `duplicate key … pg_type_typname_nsp_index`; SQLite: the unique version of the migration record).
//! Under a lock, the migrator that waited finds nothing pending and goes on.

use sea_orm::{DatabaseConnection, DbErr, RuntimeErr, sqlx};
use sea_orm_migration::MigratorTrait;

use super::{StoreError, begin_write, is_postgres};

/// The key of the PostgreSQL advisory lock held while migrating: "tallymig" in ASCII, so that it
/// cannot be mistaken for another application's key.
const MIGRATION_LOCK_KEY: i64 = i64::from_be_bytes(*b"tallymig");

/// Applies every pending migration; applying them again changes nothing. Any number of callers, in
/// any number of processes, may run it at once on one database: they take turns.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if is_postgres(db) {
        migrate_postgres(db).await
    } else {
        migrate_sqlite(db).await
    }
}

/// Holds a session advisory lock on a connection of its own while the migrations run on the pool,
/// each in its own transaction as sea-orm-migration applies them.
async fn migrate_postgres(db: &DatabaseConnection) -> Result<(), StoreError> {
    // Detached from the pool: were this future dropped half-way, the connection would close and the
    // lock end with its session, instead of going back to the pool still held.
    let mut lock = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|error| DbErr::Conn(RuntimeErr::SqlxError(error.into())))?
        .detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut lock)
        .await
        .map_err(|error| DbErr::Exec(RuntimeErr::SqlxError(error.into())))?;
    let migrated = migrations::Migrator::up(db, None).await;
    // Ending the session releases the lock; a connection that cannot even close has lost its
    // session, and the lock with it, already.
    let _ = sqlx::Connection::close(lock).await;
    Ok(migrated?)
}

/// Runs the migrations in one write transaction (`BEGIN IMMEDIATE`), which holds SQLite's single
/// write lock: another migrator waits for it (the busy timeout) and then finds nothing pending. The
/// migrations apply all together or not at all.
async fn migrate_sqlite(db: &DatabaseConnection) -> Result<(), StoreError> {
    let transaction = begin_write(db).await?;
    migrations::Migrator::up(&transaction, None).await?;
    transaction.commit().await?;
    Ok(())
}

/// The names of the migrations not applied to the database yet, oldest first (every one on an
/// empty database). Reads only: a replica started with `--no-migrate` may lack the right to create.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    Ok(migrations::Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect())
}
