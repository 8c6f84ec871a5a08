//! Builds the server (binding first, so tests can use port 0) and runs it until a shutdown signal,
//! then drains: health turns `NOT_SERVING`, the listener closes after the drain delay, and in-flight
//! calls and streams finish within the grace period.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::watch};
use tokio_stream::{StreamExt, wrappers::TcpListenerStream};
use tonic::transport::{Server, ServerTlsConfig};
use tonic_web::GrpcWebLayer;

use crate::{
    config::{Settings, redact_url},
    console::ConsoleLayer,
    grpc::{self, auth::AuthLayer, in_flight::InFlight, observe::ObserveLayer},
    health::HealthState,
    service::budget_alerts::AlertTasks,
    store,
    telemetry::{self, endpoint::MetricsEndpoint, gauges::PARKED_REFRESH},
    tls::TlsFiles,
};

/// A bound, not yet running server.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    db: DatabaseConnection,
    settings: Settings,
    in_flight: InFlight,
    tls: Option<ServerTlsConfig>,
    metrics: Option<MetricsEndpoint>,
}

impl App {
    /// Binds the listen address and opens the database pool. A PostgreSQL server that is not up yet is
    /// waited for (health stays `NOT_SERVING`); a SQLite file that cannot be opened fails here, at once.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Certificate files are read first: a wrong path fails at start, naming it.
        let tls = settings
            .tls
            .as_ref()
            .map(TlsFiles::server_config)
            .transpose()?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let metrics = match settings.metrics_listen {
            Some(address) => Some(MetricsEndpoint::bind(address).await?),
            None => None,
        };
        let mut db = store::connect(&settings.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open database {}",
                    redact_url(&settings.database_url)
                )
            })?;
        telemetry::statements::observe(&mut db);
        Ok(Self {
            listener,
            local_addr,
            db,
            settings,
            in_flight: InFlight::default(),
            tls,
            metrics,
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A live count of the calls and streams being served.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// Serves until `shutdown` completes, then drains and returns. An error means the server could not
    /// become ready (a migration failed) or the transport failed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            listener,
            local_addr,
            db,
            settings,
            in_flight,
            tls,
            metrics,
        } = self;
        let (health, health_service) = HealthState::new(grpc::SERVICE_NAMES).await;
        let health = Arc::new(health);
        let (stop_sender, stop) = watch::channel(false);

        let mut server = Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls)?;
        }
        let state =
            grpc::AppState::new(db.clone(), settings.run_flags, settings.fold_in_background);
        let alerts = AlertTasks::new(db.clone(), settings.alerts)?;
        let gauges = Arc::new(telemetry::gauges::register(&db, &state.folder));
        if telemetry::metrics_enabled() {
            tokio::spawn(count_parked(
                gauges.clone(),
                state.ready.clone(),
                stop.clone(),
            ));
        }
        let router = server
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            // Browsers call gRPC-Web over HTTP/1.1 on plain http, and load the console with it.
            // Over TLS tonic's ALPN offers h2 alone, which browsers take: a client that offers
            // only http/1.1 there is refused in the handshake (one that offers none gets HTTP/1.1).
            .accept_http1(true)
            // Outermost: a page load is answered before any layer of the calls sees it.
            .layer(ConsoleLayer::new(settings.console))
            // gRPC-Web becomes gRPC here, so every layer below sees the one protocol.
            .layer(GrpcWebLayer::new())
            .layer(ObserveLayer)
            .layer(in_flight.clone())
            .layer(AuthLayer::new(
                db.clone(),
                settings.key_cache_ttl,
                state.ready.clone(),
            ))
            .layer(grpc::framing::FramingLayer::new()?)
            .add_service(health_service)
            .add_service(grpc::reflection_v1()?)
            .add_service(grpc::reflection_v1alpha()?);
        let router = grpc::add_services(router, &state);

        // Small gRPC messages are latency-bound: send them at once.
        let incoming = TcpListenerStream::new(listener).map(|stream| {
            let stream = stream?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        });
        tracing::info!(address = %local_addr, tls = settings.tls.is_some(), database = %redact_url(&settings.database_url), "tally listening");
        if settings.console {
            let scheme = if settings.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!("{scheme}://{local_addr}/");
            tracing::info!(%url, "console at {url}");
        }
        let metrics = match metrics {
            Some(endpoint) => {
                tracing::info!(address = %endpoint.local_addr()?, "metrics at /metrics");
                Some(endpoint.spawn())
            }
            None => None,
        };
        // After the listening line, so that logs read in order: listening, then ready.
        let readiness = tokio::spawn(watch_database(
            state.clone(),
            settings.clone(),
            health.clone(),
            alerts.clone(),
            stop.clone(),
        ));

        let drain_delay = settings.drain_delay;
        let begin_shutdown = {
            let health = health.clone();
            let in_flight = in_flight.clone();
            async move {
                shutdown.await;
                tracing::info!("shutdown requested: health is NOT_SERVING, draining");
                health.stop().await;
                let _ = stop_sender.send(true);
                tokio::time::sleep(drain_delay).await;
                tracing::info!(
                    in_flight = in_flight.count(),
                    "listener closed; finishing calls in flight"
                );
            }
        };
        let grace_expired = {
            let mut stop = stop.clone();
            let grace = settings.drain_delay + settings.shutdown_grace;
            async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(grace).await;
            }
        };
        let not_ready = async move {
            match readiness.await {
                Ok(Err(error)) => error,
                Ok(Ok(())) => std::future::pending().await,
                Err(join_error) => anyhow::anyhow!("readiness task failed: {join_error}"),
            }
        };

        tokio::select! {
            served = router.serve_with_incoming_shutdown(incoming, begin_shutdown) => {
                served.context("transport failed")?;
                tracing::info!("all calls finished; stopped");
            }
            () = grace_expired => {
                tracing::warn!(in_flight = in_flight.count(), "grace period over; stopping with calls still in flight");
            }
            error = not_ready => return Err(error),
        }
        // Deliveries in flight record their outcome before the pool closes.
        alerts.stopped(settings.shutdown_grace).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        db.close().await.ok();
        Ok(())
    }
}

/// Counts the parked events for their gauge every [`PARKED_REFRESH`] while the database is ready.
async fn count_parked(
    gauges: Arc<telemetry::gauges::Gauges>,
    ready: crate::health::DatabaseReady,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(PARKED_REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if ready.get()
            && let Err(error) = gauges.refresh_parked().await
        {
            tracing::debug!(%error, "counting the parked events for their gauge failed");
        }
    }
}

/// Waits for the database, prepares it (migrations, first project), reports `SERVING`, starts the
/// background tasks that need the schema (folding, budget alerts), then keeps checking that it
/// answers: every `database_check_interval` while it does, every `database_retry` while it does not
/// (calls are refused then, so the pause is lost service). `ready` follows the same checks. Returns
/// an error only for faults that waiting will not fix.
async fn watch_database(
    state: grpc::AppState,
    settings: Settings,
    health: Arc<HealthState>,
    alerts: Arc<AlertTasks>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let db = state.db.clone();
    let ready = state.ready.clone();
    let mut reported_down = false;
    // Not backon: a fixed short pause on purpose (each one is lost service), forever, until stop.
    loop {
        match store::ping(&db).await {
            Ok(()) => break,
            Err(error) => {
                if !reported_down {
                    tracing::warn!(%error, "database not answering; health stays NOT_SERVING until it does");
                    reported_down = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(settings.database_retry) => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
        }
    }
    if settings.migrate {
        store::migrate(&db)
            .await
            .context("cannot apply migrations")?;
        tracing::info!("migrations applied");
    } else {
        // The migration job may still be running: wait for it, saying what is missing, rather than
        // fail on the first table it has not made yet.
        let mut reported = false;
        loop {
            let pending = store::pending_migrations(&db)
                .await
                .context("cannot read which migrations are applied")?;
            let Some(first) = pending.first() else { break };
            if !reported {
                tracing::warn!(
                    pending = pending.len(),
                    first = %first,
                    "the database lacks migrations and this server was started with --no-migrate: \
                     run `tally migrate` (health stays NOT_SERVING until they are applied)"
                );
                reported = true;
            }
            tokio::select! {
                () = tokio::time::sleep(settings.database_retry) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    }
    // Also with --no-migrate: the migration job prepares the schema, the first replica the catalog.
    if let Some(report) = crate::admin::ensure_catalog(&db)
        .await
        .context("cannot load the price catalog")?
    {
        tracing::info!(
            models = report.models,
            providers = report.providers,
            prices = report.prices_added,
            "price catalog loaded"
        );
    }
    state
        .prices
        .reload(&db)
        .await
        .context("cannot read the price catalog")?;
    if settings.bootstrap {
        crate::admin::bootstrap(&db)
            .await
            .context("cannot create the first project")?;
    }
    ready.set(true);
    health.serving(true).await;
    tracing::info!("database ready; SERVING");
    // With the schema in place: folds what a crash or another replica left queued, then sweeps.
    state.folder.start_sweep();
    alerts.start(stop.clone(), ready.clone());

    let mut serving = true;
    loop {
        let pause = if serving {
            settings.database_check_interval
        } else {
            settings.database_retry
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return Ok(()),
        }
        let answering = store::ping(&db).await;
        if answering.is_ok() != serving {
            serving = answering.is_ok();
            match answering {
                Ok(()) => tracing::info!("database answers again; SERVING"),
                Err(error) => {
                    tracing::warn!(%error, "database stopped answering; NOT_SERVING, calls answer UNAVAILABLE")
                }
            }
            // Before health: whoever sees the new health status finds calls treated to match.
            ready.set(serving);
            health.serving(serving).await;
        }
    }
}
