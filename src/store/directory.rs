//! Customers, agents and signals of a project as the `Directory` reads them. First and last seen
//! times and counts come from the events, runs and hourly totals, not from the directory rows:
//! ingest never updates those after it creates them (a hot row would serialize batches).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{agents, customers, signals},
    sql::Params,
};

/// A customer row, before its plan history and activity are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: Uuid,
    pub customer_id: String,
    pub display_name: Option<String>,
    pub aliases: Vec<String>,
    pub create_time: DateTime<Utc>,
}

/// Earliest and latest activity of a customer, agent or signal; `None` without any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

impl Seen {
    fn widen(self, other: Seen) -> Seen {
        let pick =
            |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>, f: fn(_, _) -> _| match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            };
        Seen {
            first: pick(self.first, other.first, Ord::min),
            last: pick(self.last, other.last, Ord::max),
        }
    }
}

/// An agent with its activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRecord {
    pub agent_code: String,
    pub create_time: DateTime<Utc>,
    pub seen: Seen,
    pub event_count: i64,
    pub run_count: i64,
}

/// A signal with its activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalRecord {
    pub signal_name: String,
    pub create_time: DateTime<Utc>,
    pub seen: Seen,
    pub event_count: i64,
    pub total_quantity: i64,
}

fn customer_row(row: customers::Model) -> CustomerRow {
    let aliases = match row.aliases {
        serde_json::Value::Array(values) => values
            .into_iter()
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    CustomerRow {
        id: row.id,
        customer_id: row.customer_id,
        display_name: row.display_name,
        aliases,
        create_time: row.create_time,
    }
}

/// The project's customer with this id (exactly as sent).
pub async fn find_customer(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_id: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    let row = customers::Entity::find()
        .filter(customers::Column::ProjectId.eq(project_id))
        .filter(customers::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?;
    Ok(row.map(customer_row))
}

/// Up to `limit` customers of the project in customer id order, after `after` when given, whose
/// plan in force at `now` is `plan_name` when given.
pub async fn customers_after(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    plan_name: Option<&str>,
    now: DateTime<Utc>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<CustomerRow>, StoreError> {
    let mut query = customers::Entity::find().filter(customers::Column::ProjectId.eq(project_id));
    if let Some(after) = after {
        query = query.filter(customers::Column::CustomerId.gt(after));
    }
    if let Some(plan_name) = plan_name {
        // The plan in force at `now`: the last period that started by then.
        query = query.filter(plan_in_force(plan_name, now));
    }
    let rows = query
        .order_by_asc(customers::Column::CustomerId)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(customer_row).collect())
}

/// The customer's plan in force at `now` is `plan_name`: the last period that started by then.
fn plan_in_force(plan_name: &str, now: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    let (p, q) = (Alias::new("p"), Alias::new("q"));
    let periods = Alias::new("customer_plan_periods");
    let later = Query::select()
        .expr(Expr::val(1))
        .from_as(periods.clone(), q.clone())
        .and_where(
            Expr::col((q.clone(), Alias::new("customer_ref")))
                .equals((customers::Entity, customers::Column::Id)),
        )
        .and_where(
            Expr::col((q.clone(), Alias::new("start_time")))
                .gt(Expr::col((p.clone(), Alias::new("start_time")))),
        )
        .and_where(Expr::col((q, Alias::new("start_time"))).lte(now))
        .to_owned();
    let in_force = Query::select()
        .expr(Expr::val(1))
        .from_as(periods, p.clone())
        .and_where(
            Expr::col((p.clone(), Alias::new("customer_ref")))
                .equals((customers::Entity, customers::Column::Id)),
        )
        .and_where(Expr::col((p.clone(), Alias::new("plan_name"))).eq(plan_name))
        .and_where(Expr::col((p, Alias::new("start_time"))).lte(now))
        .and_where(Expr::exists(later).not())
        .to_owned();
    Expr::exists(in_force)
}

/// Earliest and latest usage time of each customer's events and start time of its runs. Each
/// bound is its own subquery so that both databases answer it from the (project, customer, time)
/// indexes with one index probe instead of a scan of the customer's events.
pub async fn customers_seen(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    customer_refs: &[Uuid],
) -> Result<HashMap<Uuid, Seen>, StoreError> {
    let mut seen = HashMap::new();
    if customer_refs.is_empty() {
        return Ok(seen);
    }
    let mut params = Params::new(db.get_database_backend());
    let project = params.bind(project_id);
    let ids: Vec<String> = customer_refs.iter().map(|id| params.bind(*id)).collect();
    let bound = |function: &str, table: &str, column: &str| {
        format!(
            "(SELECT {function}(x.{column}) FROM {table} x WHERE x.project_id = {project} \
             AND x.customer_ref = c.id)"
        )
    };
    let sql = format!(
        "SELECT c.id, {} AS first_event, {} AS last_event, {} AS first_run, {} AS last_run \
         FROM customers c WHERE c.project_id = {project} AND c.id IN ({})",
        bound("MIN", "cost_events", "usage_time"),
        bound("MAX", "cost_events", "usage_time"),
        bound("MIN", "runs", "start_time"),
        bound("MAX", "runs", "start_time"),
        ids.join(", "),
    );
    for row in db.query_all_raw(params.statement(sql)).await? {
        let time = |column: &str| row.try_get::<Option<DateTime<Utc>>>("", column);
        let events = Seen {
            first: time("first_event")?,
            last: time("last_event")?,
        };
        let runs = Seen {
            first: time("first_run")?,
            last: time("last_run")?,
        };
        seen.insert(row.try_get("", "id")?, events.widen(runs));
    }
    Ok(seen)
}

/// Which directory name an hourly total is keyed by.
#[derive(Clone, Copy)]
enum Named {
    Agent,
    Signal,
}

impl Named {
    fn hourly_column(self) -> &'static str {
        match self {
            Self::Agent => "agent_code",
            Self::Signal => "signal_name",
        }
    }

    fn event_column(self) -> &'static str {
        match self {
            Self::Agent => "agent_ref",
            Self::Signal => "signal_ref",
        }
    }
}

/// Events, quantity and the first and last hour with events, per name, from `event_hourly`.
struct HourlyTotals {
    events: i64,
    quantity: i64,
    first_hour: Option<DateTime<Utc>>,
    last_hour: Option<DateTime<Utc>>,
}

async fn hourly_totals(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    named: Named,
    names: &[String],
) -> Result<HashMap<String, HourlyTotals>, StoreError> {
    let mut totals = HashMap::new();
    if names.is_empty() {
        return Ok(totals);
    }
    let mut params = Params::new(db.get_database_backend());
    let project = params.bind(project_id);
    let bound: Vec<String> = names.iter().map(|name| params.bind(name.clone())).collect();
    let column = named.hourly_column();
    let sql = format!(
        "SELECT {column} AS name, CAST(COALESCE(SUM(events), 0) AS BIGINT) AS events, \
         CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS quantity, \
         MIN(CASE WHEN events > 0 THEN hour_start END) AS first_hour, \
         MAX(CASE WHEN events > 0 THEN hour_start END) AS last_hour \
         FROM event_hourly WHERE project_id = {project} AND {column} IN ({}) GROUP BY {column}",
        bound.join(", ")
    );
    for row in db.query_all_raw(params.statement(sql)).await? {
        totals.insert(
            row.try_get::<String>("", "name")?,
            HourlyTotals {
                events: row.try_get("", "events")?,
                quantity: row.try_get("", "quantity")?,
                first_hour: row.try_get("", "first_hour")?,
                last_hour: row.try_get("", "last_hour")?,
            },
        );
    }
    Ok(totals)
}

/// The exact earliest or latest usage time of the events of one agent or signal inside the hour
/// that the hourly totals located: a scan of one hour of the project's events by time index.
async fn bound_in_hour(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    named: Named,
    id: Uuid,
    hour: DateTime<Utc>,
    function: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT {function}(usage_time) AS bound FROM cost_events WHERE project_id = {} \
         AND usage_time >= {} AND usage_time < {} AND {} = {}",
        params.bind(project_id),
        params.bind(hour),
        params.bind(hour + TimeDelta::hours(1)),
        named.event_column(),
        params.bind(id),
    );
    let row = db.query_one_raw(params.statement(sql)).await?;
    Ok(match row {
        Some(row) => row.try_get("", "bound")?,
        None => None,
    })
}

async fn seen_of(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    named: Named,
    id: Uuid,
    totals: Option<&HourlyTotals>,
) -> Result<Seen, StoreError> {
    let Some(totals) = totals else {
        return Ok(Seen::default());
    };
    let mut seen = Seen::default();
    if let Some(hour) = totals.first_hour {
        seen.first = bound_in_hour(db, project_id, named, id, hour, "MIN").await?;
    }
    if let Some(hour) = totals.last_hour {
        seen.last = bound_in_hour(db, project_id, named, id, hour, "MAX").await?;
    }
    Ok(seen)
}

/// Up to `limit` agents of the project in agent code order, after `after`, with their activity.
pub async fn agents_after(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<AgentRecord>, StoreError> {
    let mut query = agents::Entity::find().filter(agents::Column::ProjectId.eq(project_id));
    if let Some(after) = after {
        query = query.filter(agents::Column::AgentCode.gt(after));
    }
    let rows = query
        .order_by_asc(agents::Column::AgentCode)
        .limit(limit)
        .all(db)
        .await?;
    let codes: Vec<String> = rows.iter().map(|row| row.agent_code.clone()).collect();
    let totals = hourly_totals(db, project_id, Named::Agent, &codes).await?;
    let runs = run_counts(db, project_id, rows.iter().map(|row| row.id).collect()).await?;
    let mut agents = Vec::with_capacity(rows.len());
    for row in rows {
        let hourly = totals.get(&row.agent_code);
        agents.push(AgentRecord {
            seen: seen_of(db, project_id, Named::Agent, row.id, hourly).await?,
            event_count: hourly.map_or(0, |totals| totals.events),
            run_count: runs.get(&row.id).copied().unwrap_or(0),
            agent_code: row.agent_code,
            create_time: row.create_time,
        });
    }
    Ok(agents)
}

async fn run_counts(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    agent_refs: Vec<Uuid>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let mut counts = HashMap::new();
    if agent_refs.is_empty() {
        return Ok(counts);
    }
    let mut params = Params::new(db.get_database_backend());
    let project = params.bind(project_id);
    let ids: Vec<String> = agent_refs.into_iter().map(|id| params.bind(id)).collect();
    let sql = format!(
        "SELECT agent_ref, CAST(COUNT(*) AS BIGINT) AS runs FROM runs \
         WHERE project_id = {project} AND agent_ref IN ({}) GROUP BY agent_ref",
        ids.join(", ")
    );
    for row in db.query_all_raw(params.statement(sql)).await? {
        counts.insert(row.try_get("", "agent_ref")?, row.try_get("", "runs")?);
    }
    Ok(counts)
}

/// Up to `limit` signals of the project in signal name order, after `after`, with their activity.
pub async fn signals_after(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<SignalRecord>, StoreError> {
    let mut query = signals::Entity::find().filter(signals::Column::ProjectId.eq(project_id));
    if let Some(after) = after {
        query = query.filter(signals::Column::SignalName.gt(after));
    }
    let rows = query
        .order_by_asc(signals::Column::SignalName)
        .limit(limit)
        .all(db)
        .await?;
    let names: Vec<String> = rows.iter().map(|row| row.signal_name.clone()).collect();
    let totals = hourly_totals(db, project_id, Named::Signal, &names).await?;
    let mut signals = Vec::with_capacity(rows.len());
    for row in rows {
        let hourly = totals.get(&row.signal_name);
        signals.push(SignalRecord {
            seen: seen_of(db, project_id, Named::Signal, row.id, hourly).await?,
            event_count: hourly.map_or(0, |totals| totals.events),
            total_quantity: hourly.map_or(0, |totals| totals.quantity),
            signal_name: row.signal_name,
            create_time: row.create_time,
        });
    }
    Ok(signals)
}
