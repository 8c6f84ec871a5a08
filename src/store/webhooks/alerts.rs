//! Budget alerts, each recorded once per budget and month by the table's unique key.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, sea_query::OnConflict};
use uuid::Uuid;

use crate::{
    domain::{budget_alert::AlertKind, money::Usd},
    store::{StoreError, entities::budget_alerts},
};

/// An alert to record.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub id: Uuid,
    pub project_id: Uuid,
    pub budget_id: Uuid,
    pub month_start: DateTime<Utc>,
    pub kind: AlertKind,
    pub limit: Option<Usd>,
    pub spent: Usd,
    pub create_time: DateTime<Utc>,
}

/// Inserts the alert unless the same budget, month and kind is recorded already (by this
/// process or another replica, at the same moment too: the insert waits for the other's commit,
/// then does nothing). True when this call recorded it.
pub async fn insert_alert(db: &impl ConnectionTrait, alert: &NewAlert) -> Result<bool, StoreError> {
    let row = budget_alerts::ActiveModel {
        id: Set(alert.id),
        project_id: Set(alert.project_id),
        budget_id: Set(alert.budget_id),
        month_start: Set(alert.month_start),
        event_type: Set(alert.kind.event_type().to_owned()),
        threshold_percent: Set(alert.kind.threshold_percent()),
        limit_e10: Set(alert.limit.map(Usd::e10)),
        spent_e10: Set(alert.spent.e10()),
        create_time: Set(alert.create_time),
    };
    let inserted = budget_alerts::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                budget_alerts::Column::BudgetId,
                budget_alerts::Column::MonthStart,
                budget_alerts::Column::EventType,
                budget_alerts::Column::ThresholdPercent,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}
