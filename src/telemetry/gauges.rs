//! Gauges read when metrics are collected: the database pool (`db.client.connection.count` by
//! state, `db.client.connection.max`), the events this replica queued for folding and no fold
//! has taken yet (`tally.fold.lag`), and the parked events of every project (`tally.events.parked`,
//! counted every [`PARKED_REFRESH`]: a gauge's callback cannot wait for the database).

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{KeyValue, metrics::ObservableGauge};
use sea_orm::{
    DatabaseConnection, DbBackend,
    sqlx::{PgPool, SqlitePool},
};

use super::metrics::meter;
use crate::{
    service::fold::Folder,
    store::{self, StoreError},
};

/// How often the parked events are counted (a sum over the hourly aggregates).
pub const PARKED_REFRESH: Duration = Duration::from_secs(10);

/// The gauges' registrations; they are read for as long as this is kept.
pub struct Gauges {
    _instruments: Vec<ObservableGauge<u64>>,
    db: DatabaseConnection,
    parked: Arc<Parked>,
}

/// The parked events last counted.
#[derive(Default)]
struct Parked {
    unpriced: AtomicU64,
    missing_volume: AtomicU64,
}

impl Gauges {
    /// Counts the parked events again.
    pub async fn refresh_parked(&self) -> Result<(), StoreError> {
        let counts = store::attention::parked_counts_everywhere(&self.db).await?;
        self.parked
            .unpriced
            .store(counts.unpriced_events, Ordering::Relaxed);
        self.parked
            .missing_volume
            .store(counts.missing_volume_events, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    /// Connections open, idle, and the most the pool opens.
    fn reading(&self) -> (u64, u64, u64) {
        let (size, idle, max) = match self {
            Self::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Self::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        let idle = u64::try_from(idle).unwrap_or(u64::MAX);
        (u64::from(size), idle, u64::from(max))
    }
}

/// Registers the gauges of `db`'s pool and of `folder`.
pub fn register(db: &DatabaseConnection, folder: &Arc<Folder>) -> Gauges {
    let meter = meter();
    let pool = match db.get_database_backend() {
        DbBackend::Postgres => Pool::Postgres(db.get_postgres_connection_pool().clone()),
        _ => Pool::Sqlite(db.get_sqlite_connection_pool().clone()),
    };
    let pool_name = KeyValue::new("db.client.connection.pool.name", "tally");
    let connections = {
        let (pool, pool_name) = (pool.clone(), pool_name.clone());
        meter
            .u64_observable_gauge("db.client.connection.count")
            .with_unit("{connection}")
            .with_description("Connections of the database pool, by state (idle, used)")
            .with_callback(move |observer| {
                let (size, idle, _) = pool.reading();
                for (state, count) in [("idle", idle), ("used", size.saturating_sub(idle))] {
                    observer.observe(
                        count,
                        &[
                            pool_name.clone(),
                            KeyValue::new("db.client.connection.state", state),
                        ],
                    );
                }
            })
            .build()
    };
    let max = meter
        .u64_observable_gauge("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the database pool opens")
        .with_callback(move |observer| {
            observer.observe(pool.reading().2, std::slice::from_ref(&pool_name))
        })
        .build();
    let folder: Weak<Folder> = Arc::downgrade(folder);
    let lag = meter
        .u64_observable_gauge("tally.fold.lag")
        .with_unit("{event}")
        .with_description(
            "Events this replica queued for the running totals that no fold has taken yet \
             (PostgreSQL)",
        )
        .with_callback(move |observer| {
            if let Some(folder) = folder.upgrade() {
                observer.observe(u64::try_from(folder.lag()).unwrap_or(u64::MAX), &[]);
            }
        })
        .build();
    let parked = Arc::new(Parked::default());
    let parked_gauge = {
        let parked = parked.clone();
        meter
            .u64_observable_gauge("tally.events.parked")
            .with_unit("{event}")
            .with_description(
                "Events of every project waiting for a price (needs_cost_backfill) or a volume \
                 (missing_volume_data), as last counted",
            )
            .with_callback(move |observer| {
                for (status, count) in [
                    ("needs_cost_backfill", &parked.unpriced),
                    ("missing_volume_data", &parked.missing_volume),
                ] {
                    observer.observe(
                        count.load(Ordering::Relaxed),
                        &[KeyValue::new("status", status)],
                    );
                }
            })
            .build()
    };
    Gauges {
        _instruments: vec![connections, max, lag, parked_gauge],
        db: db.clone(),
        parked,
    }
}
