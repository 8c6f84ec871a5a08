//! Reads stored events back with their lines, cost items and repricings: for `GetEvent`,
//! `ListEvents`, `ExportEvents`, and the first result of a duplicate record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DbErr, QueryResult,
    sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement},
};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{event::EventStatus, ledger::PricedEvent, money::Usd};

mod priced;

use priced::lines_of;
pub use priced::load_priced;

/// A stored event with everything the read model shows.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub priced: PricedEvent,
    pub idempotency_key: Option<String>,
    pub run_key: Option<String>,
    /// The customer's display name now.
    pub customer_name: Option<String>,
    /// The monthly price of the plan in force at the usage time.
    pub plan_monthly: Option<Usd>,
    pub metadata: Option<serde_json::Value>,
    pub receive_time: DateTime<Utc>,
    /// Why lines have no cost, naming each (`None` when every line is priced).
    pub error: Option<String>,
    pub repricings: Vec<Repricing>,
}

/// A change of an event's cost after it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repricing {
    pub reprice_time: DateTime<Utc>,
    pub reason: String,
    pub detail: Option<String>,
    pub old_status: EventStatus,
    pub new_status: EventStatus,
    pub old_cost: Option<Usd>,
    pub new_cost: Option<Usd>,
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
    pub signal_name: Option<String>,
    pub run_key: Option<String>,
    pub status: Option<EventStatus>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// The event columns a priced event is made of, joined with its customer's, agent's and signal's
/// names, of the project (without lines): what the fold reads, and the base of every read.
fn priced_select(project_id: Uuid) -> SelectStatement {
    let e = a("cost_events");
    Query::select()
        .columns(
            [
                "id",
                "user_id",
                "run_ref",
                "plan_name",
                "quantity",
                "usage_time",
            ]
            .map(|column| (e.clone(), a(column))),
        )
        .column((a("customers"), a("customer_id")))
        .column((a("agents"), a("agent_code")))
        .column((a("signals"), a("signal_name")))
        .from(e.clone())
        .inner_join(
            a("customers"),
            Expr::col((a("customers"), a("id"))).equals((e.clone(), a("customer_ref"))),
        )
        .inner_join(
            a("agents"),
            Expr::col((a("agents"), a("id"))).equals((e.clone(), a("agent_ref"))),
        )
        .left_join(
            a("signals"),
            Expr::col((a("signals"), a("id"))).equals((e.clone(), a("signal_ref"))),
        )
        .and_where(Expr::col((e, a("project_id"))).eq(project_id))
        .to_owned()
}

/// A priced event (without lines) from a row of [`priced_select`].
fn priced_from_row(row: &QueryResult) -> Result<PricedEvent, DbErr> {
    let quantity: i64 = row.try_get("", "quantity")?;
    Ok(PricedEvent {
        id: row.try_get("", "id")?,
        usage_time: row.try_get("", "usage_time")?,
        customer_id: row.try_get("", "customer_id")?,
        plan_name: row.try_get("", "plan_name")?,
        agent_code: row.try_get("", "agent_code")?,
        signal_name: row.try_get("", "signal_name")?,
        user_id: row.try_get("", "user_id")?,
        quantity: u64::try_from(quantity).unwrap_or_default(),
        run: row.try_get("", "run_ref")?,
        lines: Vec::new(),
    })
}

/// The event rows with everything the read model shows, without lines.
fn event_select(project_id: Uuid) -> SelectStatement {
    let e = a("cost_events");
    let plan_monthly = Expr::cust(
        "(SELECT p.monthly_usd_e10 FROM customer_plan_periods p WHERE p.customer_ref = cost_events.customer_ref \
         AND p.start_time <= cost_events.usage_time ORDER BY p.start_time DESC LIMIT 1)",
    );
    priced_select(project_id)
        .columns(
            ["idempotency_key", "receive_time", "metadata", "error"]
                .map(|column| (e.clone(), a(column))),
        )
        .expr_as(
            Expr::col((a("customers"), a("display_name"))),
            a("customer_name"),
        )
        .column((a("runs"), a("run_key")))
        .expr_as(plan_monthly, a("plan_monthly_usd_e10"))
        .left_join(
            a("runs"),
            Expr::col((a("runs"), a("id"))).equals((e, a("run_ref"))),
        )
        .to_owned()
}

/// The project's events with these ids, in the order asked (unknown ids are left out).
pub async fn load(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<StoredEvent>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = event_select(project_id)
        .and_where(Expr::col((a("cost_events"), a("id"))).is_in(ids.iter().copied()))
        .to_owned();
    let mut events: HashMap<Uuid, StoredEvent> = HashMap::with_capacity(ids.len());
    for row in db.query_all(&select).await? {
        let event = event_from_row(&row)?;
        events.insert(event.priced.id, event);
    }
    attach_lines(db, &mut events).await?;
    attach_repricings(db, &mut events).await?;
    Ok(ids.iter().filter_map(|id| events.remove(id)).collect())
}

/// Which way a listing of events runs, by usage time, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOrder {
    NewestFirst,
    OldestFirst,
}

/// One page of the project's events, newest first (usage time, then id), after `before` when given.
pub async fn list(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &EventFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    list_in_order(
        db,
        project_id,
        filter,
        ListOrder::NewestFirst,
        before,
        limit,
    )
    .await
}

/// One page of the project's events in `order`, past `position` (the usage time and id of the
/// last event of the previous page) when given: a keyset page on the (project, usage time, id)
/// index, however deep into the events it is.
pub async fn list_in_order(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &EventFilter,
    order: ListOrder,
    position: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let e = a("cost_events");
    let mut select = Query::select()
        .column((e.clone(), a("id")))
        .from(e.clone())
        .and_where(Expr::col((e.clone(), a("project_id"))).eq(project_id))
        .to_owned();
    let by_name = |select: &mut SelectStatement,
                   table: &str,
                   name_column: &str,
                   reference: &str,
                   value: &str| {
        select.inner_join(
            a(table),
            Expr::col((a(table), a("id"))).equals((a("cost_events"), a(reference))),
        );
        select.and_where(Expr::col((a(table), a(name_column))).eq(value));
    };
    if let Some(customer_id) = &filter.customer_id {
        by_name(
            &mut select,
            "customers",
            "customer_id",
            "customer_ref",
            customer_id,
        );
    }
    if let Some(agent_code) = &filter.agent_code {
        by_name(&mut select, "agents", "agent_code", "agent_ref", agent_code);
    }
    if let Some(signal_name) = &filter.signal_name {
        by_name(
            &mut select,
            "signals",
            "signal_name",
            "signal_ref",
            signal_name,
        );
    }
    if let Some(run_key) = &filter.run_key {
        by_name(&mut select, "runs", "run_key", "run_ref", run_key);
    }
    if let Some(status) = filter.status {
        select.and_where(Expr::col((e.clone(), a("status"))).eq(status.as_str()));
    }
    if let Some(start) = filter.start_time {
        select.and_where(Expr::col((e.clone(), a("usage_time"))).gte(start));
    }
    if let Some(end) = filter.end_time {
        select.and_where(Expr::col((e.clone(), a("usage_time"))).lt(end));
    }
    if let Some((time, id)) = position {
        let usage_time = Expr::col((e.clone(), a("usage_time")));
        let event_id = Expr::col((e.clone(), a("id")));
        select.and_where(match order {
            ListOrder::NewestFirst => usage_time
                .clone()
                .lt(time)
                .or(usage_time.eq(time).and(event_id.lt(id))),
            ListOrder::OldestFirst => usage_time
                .clone()
                .gt(time)
                .or(usage_time.eq(time).and(event_id.gt(id))),
        });
    }
    let direction = match order {
        ListOrder::NewestFirst => Order::Desc,
        ListOrder::OldestFirst => Order::Asc,
    };
    select
        .order_by((e.clone(), a("usage_time")), direction.clone())
        .order_by((e, a("id")), direction)
        .limit(limit);
    let ids = db
        .query_all(&select)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<Vec<_>, _>>()?;
    load(db, project_id, &ids).await
}

fn event_from_row(row: &QueryResult) -> Result<StoredEvent, DbErr> {
    Ok(StoredEvent {
        priced: priced_from_row(row)?,
        idempotency_key: row.try_get("", "idempotency_key")?,
        run_key: row.try_get("", "run_key")?,
        customer_name: row.try_get("", "customer_name")?,
        plan_monthly: row
            .try_get::<Option<i64>>("", "plan_monthly_usd_e10")?
            .map(Usd::from_e10),
        metadata: row.try_get("", "metadata")?,
        receive_time: row.try_get("", "receive_time")?,
        error: row.try_get("", "error")?,
        repricings: Vec::new(),
    })
}

async fn attach_lines(
    db: &impl ConnectionTrait,
    events: &mut HashMap<Uuid, StoredEvent>,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = events.keys().copied().collect();
    for (event, lines) in lines_of(db, &ids, true).await? {
        if let Some(stored) = events.get_mut(&event) {
            stored.priced.lines = lines;
        }
    }
    Ok(())
}

async fn attach_repricings(
    db: &impl ConnectionTrait,
    events: &mut HashMap<Uuid, StoredEvent>,
) -> Result<(), StoreError> {
    use super::entities::repricings;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    if events.is_empty() {
        return Ok(());
    }
    let rows = repricings::Entity::find()
        .filter(repricings::Column::EventRef.is_in(events.keys().copied()))
        .order_by_asc(repricings::Column::RepriceTime)
        .all(db)
        .await?;
    for row in rows {
        let corrupt = |what: &str| DbErr::Type(format!("repricing {}: bad {what}", row.id));
        let repricing = Repricing {
            reprice_time: row.reprice_time,
            old_status: EventStatus::parse(&row.old_status).ok_or_else(|| corrupt("old_status"))?,
            new_status: EventStatus::parse(&row.new_status).ok_or_else(|| corrupt("new_status"))?,
            reason: row.reason,
            detail: row.detail,
            old_cost: row.old_cost_e10.map(Usd::from_e10),
            new_cost: row.new_cost_e10.map(Usd::from_e10),
        };
        if let Some(event) = events.get_mut(&row.event_ref) {
            event.repricings.push(repricing);
        }
    }
    Ok(())
}
