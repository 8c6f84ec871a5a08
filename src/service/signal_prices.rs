//! Usage revenue prices: setting the price of one unit of a signal under a plan from a time on
//! (an unknown signal is created, as ingest would), and listing them with their history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::{
    domain::{
        DomainError, FieldViolation,
        page_token::{self, PageLimits},
        tenant::Tenant,
    },
    store::{
        self, StoreError,
        ingest::{NamedTable, Seen, upsert_names},
        signal_prices::{
            self as price_store, NewSignalPrice, PriceCursor, SignalPrice, SignalPriceFilter,
        },
    },
};

/// Signal prices per page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// Sets a signal price (replacing one of the same plan, signal and effective time) in one
/// transaction with the creation of the signal when it is new.
pub async fn set(
    db: &DatabaseConnection,
    tenant: Tenant,
    price: NewSignalPrice,
) -> Result<SignalPrice, DomainError> {
    let now = store::now();
    let txn = store::begin_write(db).await?;
    let seen = BTreeMap::from([(price.signal_name.clone(), Seen::at(now))]);
    let ids = upsert_names(&txn, NamedTable::Signals, tenant.project_id, &seen, now).await?;
    let signal_ref = ids.get(&price.signal_name).copied().ok_or_else(|| {
        DomainError::Internal(
            format!("signal {:?} not found after upsert", price.signal_name).into(),
        )
    })?;
    let stored = price_store::upsert(&txn, tenant.project_id, signal_ref, &price, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(stored)
}

fn encode_cursor(price: &SignalPrice) -> String {
    serde_json::json!([
        price.plan_name,
        price.signal_name,
        price.effective_time.to_rfc3339()
    ])
    .to_string()
}

fn decode_cursor(cursor: &str) -> Option<PriceCursor> {
    let (plan, signal, time): (String, String, String) = serde_json::from_str(cursor).ok()?;
    let time = DateTime::parse_from_rfc3339(&time)
        .ok()?
        .with_timezone(&Utc);
    Some((plan, signal, time))
}

/// One page of signal prices and the token of the next (empty at the end).
pub async fn list(
    db: &DatabaseConnection,
    tenant: Tenant,
    filter: SignalPriceFilter,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<SignalPrice>, String), DomainError> {
    let fingerprint = format!("{:?}|{:?}", filter.plan_name, filter.signal_name);
    let invalid = || {
        DomainError::Invalid(vec![FieldViolation::new(
            "page_token",
            "not a page token of this list",
        )])
    };
    let after = match page_token::decode(page_token, &fingerprint)
        .map_err(|violation| DomainError::Invalid(vec![violation]))?
    {
        Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(invalid)?),
        None => None,
    };
    let size = PAGE_LIMITS.size(page_size);
    let mut prices =
        price_store::list(db, tenant.project_id, &filter, after.as_ref(), size + 1).await?;
    let next = if prices.len() as u64 > size {
        prices.truncate(size as usize);
        prices
            .last()
            .map(|last| page_token::encode(&encode_cursor(last), &fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok((prices, next))
}
