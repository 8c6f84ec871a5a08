//! What `UpdateCustomer` writes besides the plan period: the customer's names; and, for any change
//! of a customer's plan history, the plan that the customer's events of a span are stored under
//! (the caller moves the totals).

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UpdateStatement},
};
use uuid::Uuid;

use super::{StoreError, sql::val};

/// Sets the display name (`Some(None)` clears it) and the aliases of a customer, where given.
pub async fn update_names(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ref: Uuid,
    display_name: Option<Option<String>>,
    aliases: Option<&[String]>,
) -> Result<(), StoreError> {
    let mut update = Query::update()
        .table(Alias::new("customers"))
        .and_where(Expr::col(Alias::new("id")).eq(customer_ref))
        .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
        .to_owned();
    let mut changed = false;
    if let Some(name) = display_name {
        update.value(Alias::new("display_name"), val(name));
        changed = true;
    }
    if let Some(aliases) = aliases {
        update.value(Alias::new("aliases"), val(serde_json::json!(aliases)));
        changed = true;
    }
    if changed {
        db.execute(&update).await?;
    }
    Ok(())
}

/// A span of usage or start times: `[from, until)`, open-ended without `until`.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

fn in_span(select: &mut SelectStatement, column: &str, span: Span) {
    select.and_where(Expr::col(Alias::new(column)).gte(span.from));
    if let Some(until) = span.until {
        select.and_where(Expr::col(Alias::new(column)).lt(until));
    }
}

/// The ids of the customer's events in the span not already stored under `plan_name`.
pub async fn events_to_move(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ref: Uuid,
    span: Span,
    plan_name: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let mut select = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("cost_events"))
        .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
        .and_where(Expr::col(Alias::new("customer_ref")).eq(customer_ref))
        .and_where(
            Expr::col(Alias::new("plan_name"))
                .is_null()
                .or(Expr::col(Alias::new("plan_name")).ne(plan_name)),
        )
        .to_owned();
    in_span(&mut select, "usage_time", span);
    let rows = db.query_all(&select).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?)
}

/// Stores these events of the project under `plan_name`.
pub async fn set_events_plan(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    ids: &[Uuid],
    plan_name: &str,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let update: UpdateStatement = Query::update()
        .table(Alias::new("cost_events"))
        .value(Alias::new("plan_name"), val(plan_name.to_owned()))
        .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
        .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// A run as the hourly totals count its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedRun {
    pub id: Uuid,
    pub start_time: DateTime<Utc>,
    pub agent_code: String,
    pub user_id: Option<String>,
}

/// Which of these customers have a stored event or a run started in one of their spans: a batch
/// whose records back-date plans moves only those (one statement for the batch, where most
/// back-dated periods start before anything stored).
pub async fn customers_with_stored_in(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    spans: &[(Uuid, Span)],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    if spans.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    // An open span ends at the end of time (no usage time reaches the year 9999).
    let end_of_time = DateTime::<Utc>::MAX_UTC
        .with_year(9999)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut params = super::sql::Params::new(db.get_database_backend());
    let project = params.bind(project_id);
    let rows: Vec<Vec<sea_orm::Value>> = spans
        .iter()
        .map(|(customer_ref, span)| {
            vec![
                (*customer_ref).into(),
                span.from.into(),
                span.until.unwrap_or(end_of_time).into(),
            ]
        })
        .collect();
    let values = params.tuples(rows);
    let sql = format!(
        "WITH s (customer_ref, from_time, until_time) AS (VALUES {values}) \
         SELECT DISTINCT s.customer_ref FROM s WHERE EXISTS (SELECT 1 FROM cost_events e \
         WHERE e.project_id = {project} AND e.customer_ref = s.customer_ref \
         AND e.usage_time >= s.from_time AND e.usage_time < s.until_time) \
         OR EXISTS (SELECT 1 FROM runs r WHERE r.project_id = {project} \
         AND r.customer_ref = s.customer_ref \
         AND r.start_time >= s.from_time AND r.start_time < s.until_time)"
    );
    db.query_all_raw(params.into_statement(sql))
        .await?
        .iter()
        .map(|row| Ok(row.try_get_by_index::<Uuid>(0)?))
        .collect()
}

/// Runs by id, with their customer (row and id).
pub async fn started_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, StartedRun)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (r, a, c) = (
        Alias::new("runs"),
        Alias::new("agents"),
        Alias::new("customers"),
    );
    let select = Query::select()
        .column((r.clone(), Alias::new("id")))
        .column((r.clone(), Alias::new("start_time")))
        .column((r.clone(), Alias::new("user_id")))
        .column((r.clone(), Alias::new("customer_ref")))
        .column((c.clone(), Alias::new("customer_id")))
        .column((a.clone(), Alias::new("agent_code")))
        .from(r.clone())
        .inner_join(
            a.clone(),
            Expr::col((a, Alias::new("id"))).equals((r.clone(), Alias::new("agent_ref"))),
        )
        .inner_join(
            c.clone(),
            Expr::col((c, Alias::new("id"))).equals((r.clone(), Alias::new("customer_ref"))),
        )
        .and_where(Expr::col((r.clone(), Alias::new("project_id"))).eq(project_id))
        .and_where(Expr::col((r, Alias::new("id"))).is_in(ids.iter().copied()))
        .to_owned();
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "customer_ref")?,
                row.try_get("", "customer_id")?,
                StartedRun {
                    id: row.try_get("", "id")?,
                    start_time: row.try_get("", "start_time")?,
                    agent_code: row.try_get("", "agent_code")?,
                    user_id: row.try_get("", "user_id")?,
                },
            ))
        })
        .collect()
}

/// The customer's runs that started in the span.
pub async fn runs_started_in(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_ref: Uuid,
    span: Span,
) -> Result<Vec<StartedRun>, StoreError> {
    let (r, a) = (Alias::new("runs"), Alias::new("agents"));
    let mut select = Query::select()
        .column((r.clone(), Alias::new("id")))
        .column((r.clone(), Alias::new("start_time")))
        .column((r.clone(), Alias::new("user_id")))
        .column((a.clone(), Alias::new("agent_code")))
        .from(r.clone())
        .inner_join(
            a.clone(),
            Expr::col((a, Alias::new("id"))).equals((r.clone(), Alias::new("agent_ref"))),
        )
        .and_where(Expr::col((r.clone(), Alias::new("project_id"))).eq(project_id))
        .and_where(Expr::col((r.clone(), Alias::new("customer_ref"))).eq(customer_ref))
        .to_owned();
    select.and_where(Expr::col((r.clone(), Alias::new("start_time"))).gte(span.from));
    if let Some(until) = span.until {
        select.and_where(Expr::col((r, Alias::new("start_time"))).lt(until));
    }
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| {
            Ok(StartedRun {
                id: row.try_get("", "id")?,
                start_time: row.try_get("", "start_time")?,
                agent_code: row.try_get("", "agent_code")?,
                user_id: row.try_get("", "user_id")?,
            })
        })
        .collect()
}
