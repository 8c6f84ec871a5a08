//! Deliveries of budget alerts: inserted with their alert, claimed by a worker when due, settled
//! by the answer. A claim moves `next_attempt_time` past the time a try may take, so a worker
//! that dies while sending leaves the delivery due again soon (sent at least once), and no other
//! worker takes it meanwhile.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, LockBehavior, LockType, Query},
};
use uuid::Uuid;

use crate::{
    domain::{
        budget_alert::AlertKind,
        webhook::{DeliveryStatus, WebhookSecret, WebhookUrl},
    },
    store::{
        StoreError,
        entities::{budget_alerts, webhook_deliveries as deliveries, webhooks},
    },
};

/// A delivery to insert with its alert.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: Uuid,
    pub project_id: Uuid,
    pub webhook_id: Uuid,
    pub alert_id: Uuid,
    pub payload: String,
    /// Also its first attempt's time: due at once.
    pub create_time: DateTime<Utc>,
}

/// Inserts pending deliveries, due at their creation.
pub async fn insert_deliveries(
    db: &impl ConnectionTrait,
    new: Vec<NewDelivery>,
) -> Result<(), StoreError> {
    if new.is_empty() {
        return Ok(());
    }
    let rows = new.into_iter().map(|delivery| deliveries::ActiveModel {
        id: Set(delivery.id),
        project_id: Set(delivery.project_id),
        webhook_id: Set(delivery.webhook_id),
        alert_id: Set(delivery.alert_id),
        payload: Set(delivery.payload),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        last_http_status: Set(None),
        last_error: Set(None),
        next_attempt_time: Set(Some(delivery.create_time)),
        delivered_time: Set(None),
        create_time: Set(delivery.create_time),
    });
    deliveries::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Which deliveries to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryFilter {
    pub webhook_id: Option<Uuid>,
}

/// A stored delivery with what its alert is about.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub budget_id: Uuid,
    pub month_start: DateTime<Utc>,
    pub kind: AlertKind,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_time: Option<DateTime<Utc>>,
    pub delivered_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
}

/// Deliveries of the project, newest first (ids are UUIDv7), before `before` when given.
pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: DeliveryFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut query = deliveries::Entity::find()
        .find_also_related(budget_alerts::Entity)
        .filter(deliveries::Column::ProjectId.eq(project_id));
    if let Some(webhook_id) = filter.webhook_id {
        query = query.filter(deliveries::Column::WebhookId.eq(webhook_id));
    }
    if let Some(before) = before {
        query = query.filter(deliveries::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(deliveries::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(delivery, alert)| {
            let alert = alert.ok_or_else(|| corrupt(delivery.id, "alert"))?;
            from_rows(delivery, alert)
        })
        .collect()
}

fn from_rows(row: deliveries::Model, alert: budget_alerts::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        kind: AlertKind::parse(&alert.event_type, alert.threshold_percent)
            .ok_or_else(|| corrupt(row.id, "event_type"))?,
        status: DeliveryStatus::parse(&row.status).ok_or_else(|| corrupt(row.id, "status"))?,
        id: row.id,
        webhook_id: row.webhook_id,
        budget_id: alert.budget_id,
        month_start: alert.month_start,
        payload: row.payload,
        attempts: row.attempts,
        last_http_status: row.last_http_status,
        last_error: row.last_error,
        next_attempt_time: row.next_attempt_time,
        delivered_time: row.delivered_time,
        create_time: row.create_time,
    })
}

fn corrupt(id: Uuid, what: &str) -> StoreError {
    StoreError::Other(sea_orm::DbErr::Type(format!(
        "webhook delivery {id}: bad {what}"
    )))
}

/// A delivery claimed for sending, with where and how to send it.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: Uuid,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    pub payload: String,
    /// Tries before this one.
    pub attempts: i64,
    pub create_time: DateTime<Utc>,
}

/// Claims up to `limit` pending deliveries due at `now`, oldest due first, until `claim_until`.
///
/// A plain read finds them first, so that an idle poll takes no lock (on SQLite every write
/// statement takes the one write lock, even one that changes nothing). The claim is then one
/// `UPDATE … RETURNING` of those still due: on PostgreSQL through `FOR UPDATE SKIP LOCKED`, so
/// that replicas polling at once share the work without waiting for each other and none sends
/// what another claimed; SQLite has one writer.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    claim_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<DueDelivery>, StoreError> {
    let due = || {
        deliveries::Column::Status
            .eq(DeliveryStatus::Pending.as_str())
            .and(deliveries::Column::NextAttemptTime.lte(now))
    };
    let candidates: Vec<Uuid> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .filter(due())
        .order_by_asc(deliveries::Column::NextAttemptTime)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut still_due = Query::select();
    still_due
        .column(deliveries::Column::Id)
        .from(deliveries::Entity)
        .and_where(deliveries::Column::Id.is_in(candidates))
        .and_where(due());
    if db.get_database_backend() == DbBackend::Postgres {
        still_due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let claimed = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::NextAttemptTime,
            Expr::value(claim_until),
        )
        .filter(deliveries::Column::Id.in_subquery(still_due))
        .exec_with_returning(db)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let endpoints: HashMap<Uuid, webhooks::Model> = webhooks::Entity::find()
        .filter(webhooks::Column::Id.is_in(claimed.iter().map(|row| row.webhook_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|webhook| (webhook.id, webhook))
        .collect();
    // A webhook deleted since the claim took its deliveries with it: nothing to send.
    Ok(claimed
        .into_iter()
        .filter_map(|row| {
            let webhook = endpoints.get(&row.webhook_id)?;
            Some(DueDelivery {
                id: row.id,
                url: WebhookUrl::from_stored(webhook.url.clone()),
                secret: WebhookSecret::from_stored(webhook.secret.clone()),
                payload: row.payload,
                attempts: row.attempts,
                create_time: row.create_time,
            })
        })
        .collect())
}

/// The outcome of one try.
#[derive(Clone, Debug)]
pub struct Attempted {
    pub id: Uuid,
    pub status: DeliveryStatus,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    /// When to try again (pending only).
    pub next_attempt_time: Option<DateTime<Utc>>,
    pub delivered_time: Option<DateTime<Utc>>,
}

/// Records a try of a pending delivery: one more attempt, its answer, what comes next. A
/// delivery settled meanwhile (by a worker whose claim this one outlived) is left as it is.
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    attempted: Attempted,
) -> Result<(), StoreError> {
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Attempts,
            Expr::col(deliveries::Column::Attempts).add(1),
        )
        .col_expr(
            deliveries::Column::Status,
            Expr::value(attempted.status.as_str()),
        )
        .col_expr(
            deliveries::Column::LastHttpStatus,
            Expr::value(attempted.last_http_status),
        )
        .col_expr(
            deliveries::Column::LastError,
            Expr::value(attempted.last_error),
        )
        .col_expr(
            deliveries::Column::NextAttemptTime,
            Expr::value(attempted.next_attempt_time),
        )
        .col_expr(
            deliveries::Column::DeliveredTime,
            Expr::value(attempted.delivered_time),
        )
        .filter(deliveries::Column::Id.eq(attempted.id))
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}
