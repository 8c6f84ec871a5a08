//! Every SQL statement the pool runs: its duration into `db.client.operation.duration`, and, while
//! traces are exported, a client span under the span current at the time (a call's, a fold's) with
//! the statement's text (placeholders, never values) and the call's project.

use std::time::SystemTime;

use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _},
};
use sea_orm::{DatabaseConnection, DbBackend, metric::Info};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{call::current_project, metrics::instruments, tracer};

/// The longest statement text a span carries; multi-row inserts run to many kilobytes.
const MAX_QUERY_TEXT: usize = 1024;

/// Observes every statement run through `db` and the transactions begun on it.
pub fn observe(db: &mut DatabaseConnection) {
    let system = match db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        _ => "sqlite",
    };
    db.set_metric_callback(move |info| statement_done(system, info));
}

fn statement_done(system: &'static str, info: &Info<'_>) {
    // On the path of every statement: nothing to build when nothing reads it.
    if !super::metrics_enabled() && tracer().is_none() {
        return;
    }
    let sql = info.statement.sql.trim_start();
    let operation = operation_name(sql);
    let mut attributes = vec![
        KeyValue::new("db.system.name", system),
        KeyValue::new("db.operation.name", operation),
    ];
    if info.failed {
        attributes.push(KeyValue::new("error.type", "database_error"));
    }
    instruments()
        .db_operation_duration
        .record(info.elapsed.as_secs_f64(), &attributes);

    let Some(tracer) = tracer() else { return };
    let parent = tracing::Span::current().context();
    // Statements of background loops (the alert watcher polls every second) outside any span
    // would each be a trace of their own: only statements under a span are traced.
    if !parent.span().span_context().is_valid() {
        return;
    }
    let end = SystemTime::now();
    attributes.push(KeyValue::new("db.query.text", truncated(sql)));
    if let Some(project) = current_project() {
        attributes.push(KeyValue::new("tally.project", project.to_string()));
    }
    let mut span = tracer
        .span_builder(operation)
        .with_kind(SpanKind::Client)
        .with_start_time(end.checked_sub(info.elapsed).unwrap_or(end))
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    if info.failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

/// The statement's first keyword, upper-cased (`SELECT`, `INSERT`, `WITH`, …).
fn operation_name(sql: &str) -> &'static str {
    const KNOWN: [&str; 14] = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "COPY", "SET", "EXECUTE", "PREPARE",
        "CALL", "CREATE", "ALTER", "DROP", "PRAGMA",
    ];
    let word = sql.split_whitespace().next().unwrap_or_default();
    KNOWN
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(word))
        .unwrap_or("OTHER")
}

fn truncated(sql: &str) -> String {
    match sql.char_indices().nth(MAX_QUERY_TEXT) {
        Some((end, _)) => format!("{}…", &sql[..end]),
        None => sql.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_operation_by_its_first_keyword() {
        assert_eq!(operation_name("select 1"), "SELECT");
        assert_eq!(operation_name("INSERT INTO x VALUES ($1)"), "INSERT");
        assert_eq!(
            operation_name("WITH a AS (SELECT 1) SELECT * FROM a"),
            "WITH"
        );
        assert_eq!(operation_name("VACUUM"), "OTHER");
        assert_eq!(operation_name(""), "OTHER");
    }

    #[test]
    fn long_statements_are_cut() {
        let long = "x".repeat(MAX_QUERY_TEXT + 10);
        assert_eq!(truncated(&long).chars().count(), MAX_QUERY_TEXT + 1);
        assert_eq!(truncated("SELECT 1"), "SELECT 1");
    }
}
