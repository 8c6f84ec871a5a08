//! Events as the running totals need them and their lines as every read shows them: the light
//! load a fold reads (`load_priced`), and the lines (with cost items when asked) of any load.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{a, priced_from_row, priced_select};
use crate::{
    domain::{
        event::EventStatus,
        ledger::{PricedEvent, PricedLine},
        money::Usd,
        pricing::{CostItem, Dimension, PriceRef, PriceSource, Tier, Usage},
    },
    store::StoreError,
};

/// The lines of these events in order, by event; with their cost items when asked.
pub(super) async fn lines_of(
    db: &impl ConnectionTrait,
    events: &[Uuid],
    with_items: bool,
) -> Result<HashMap<Uuid, Vec<PricedLine>>, StoreError> {
    use crate::store::entities::{line_cost_items as items, service_lines as lines};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let mut by_event: HashMap<Uuid, Vec<PricedLine>> = HashMap::new();
    if events.is_empty() {
        return Ok(by_event);
    }
    let line_rows = lines::Entity::find()
        .filter(lines::Column::EventRef.is_in(events.iter().copied()))
        .order_by_asc(lines::Column::EventRef)
        .order_by_asc(lines::Column::LineIndex)
        .all(db)
        .await?;
    let mut item_rows: HashMap<Uuid, Vec<items::Model>> = HashMap::new();
    if with_items {
        for chunk in line_rows.chunks(10_000) {
            let rows = items::Entity::find()
                .filter(items::Column::LineRef.is_in(chunk.iter().map(|line| line.id)))
                .order_by_asc(items::Column::Id)
                .all(db)
                .await?;
            for row in rows {
                item_rows.entry(row.line_ref).or_default().push(row);
            }
        }
    }
    for row in line_rows {
        let corrupt = |what: &str| DbErr::Type(format!("line {}: bad {what}", row.id));
        let count = |value: Option<i64>| value.map(|v| u64::try_from(v).unwrap_or_default());
        let items = item_rows
            .remove(&row.id)
            .unwrap_or_default()
            .into_iter()
            .map(cost_item)
            .collect::<Result<Vec<_>, _>>()?;
        let line = PricedLine {
            provider: row.provider,
            model: row.model,
            usage: Usage {
                input_tokens: count(row.input_tokens),
                output_tokens: count(row.output_tokens),
                cached_input_tokens: count(row.cached_input_tokens),
                cache_creation_tokens: count(row.cache_creation_tokens),
                reasoning_tokens: count(row.reasoning_tokens),
                quantity: count(row.quantity),
                tier: Tier::parse(&row.service_tier).ok_or_else(|| corrupt("service_tier"))?,
            },
            manual_cost: row.manual_cost_e10.map(Usd::from_e10),
            latency_ms: row.latency_ms,
            call_status: row.call_status,
            status: EventStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            cost: row.cost_e10.map(Usd::from_e10),
            items,
            priced_as: row.priced_provider.zip(row.priced_model),
            error: None,
        };
        by_event.entry(row.event_ref).or_default().push(line);
    }
    Ok(by_event)
}

/// Stored events as the running totals need them (`service::fold`): attribution, quantity and
/// lines, without cost items, repricings or what only reads show.
pub async fn load_priced(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<PricedEvent>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = priced_select(project_id)
        .and_where(Expr::col((a("cost_events"), a("id"))).is_in(ids.iter().copied()))
        .to_owned();
    let mut lines = lines_of(db, ids, false).await?;
    let mut events = Vec::with_capacity(ids.len());
    for row in db.query_all(&select).await? {
        let mut event = priced_from_row(&row)?;
        event.lines = lines.remove(&event.id).unwrap_or_default();
        events.push(event);
    }
    Ok(events)
}

fn cost_item(row: crate::store::entities::line_cost_items::Model) -> Result<CostItem, DbErr> {
    let corrupt = |what: &str| DbErr::Type(format!("cost item {}: bad {what}", row.id));
    let source = match row.price_source.as_str() {
        "CATALOG" => Some(PriceSource::Catalog),
        "PROJECT" => Some(PriceSource::Project),
        _ => None,
    };
    Ok(CostItem {
        dimension: Dimension::parse(&row.dimension).ok_or_else(|| corrupt("dimension"))?,
        tier: Tier::parse(&row.service_tier).ok_or_else(|| corrupt("service_tier"))?,
        long_context: row.long_context,
        units: u64::try_from(row.units).unwrap_or_default(),
        unit_price: row
            .unit_price_usd
            .parse::<Decimal>()
            .map_err(|_| corrupt("unit_price_usd"))?,
        cost: Usd::from_e10(row.cost_e10),
        price: match (source, row.price_ref, row.price_effective_time) {
            (Some(source), Some(id), Some(effective_time)) => Some(PriceRef {
                id,
                source,
                effective_time,
            }),
            _ => None,
        },
    })
}
