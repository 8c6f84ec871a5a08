//! The delivery worker: claims the deliveries that are due, posts each to its webhook, signed, and
//! records the answer: 2xx delivers it, anything else schedules the next try (or gives up).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use tokio::{
    sync::{Notify, watch},
    task::JoinSet,
};

use super::AlertSettings;
use crate::{
    domain::{error::shorten, webhook::DeliveryStatus},
    health::DatabaseReady,
    store::{
        self, StoreError,
        webhooks::{Attempted, DueDelivery},
    },
};

/// Deliveries claimed (and sent side by side) at a time.
const BATCH: u64 = 32;
/// How long a claim outlasts the request timeout: a worker that dies mid-send leaves the delivery
/// to the others this long after the try would have ended.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);
/// Characters of a transport error kept with the delivery.
const MAX_ERROR_CHARS: usize = 512;

/// The HTTP client of the worker: the request timeout, no redirects (a webhook answers itself;
/// following one would send the signed body elsewhere).
pub(super) fn client(settings: &AlertSettings) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tally-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Delivers until `stop`, while the database answers (`ready`): at once when there is more due
/// or when `recorded` is told, else every interval.
pub(super) async fn run(
    db: DatabaseConnection,
    client: reqwest::Client,
    settings: AlertSettings,
    recorded: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    ready: DatabaseReady,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        if ready.get() {
            match deliver_due(&db, &client, &settings).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "claiming webhook deliveries failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            () = recorded.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Sends one batch of due deliveries side by side and records each outcome. True when the batch
/// was full (more may be due).
async fn deliver_due(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    settings: &AlertSettings,
) -> Result<bool, StoreError> {
    let now = store::now();
    let claim_until =
        now + TimeDelta::from_std(settings.timeout + CLAIM_MARGIN).unwrap_or(TimeDelta::minutes(1));
    let due = store::webhooks::claim_due(db, now, claim_until, BATCH).await?;
    let full = due.len() as u64 == BATCH;
    let mut sends = JoinSet::new();
    for delivery in due {
        let client = client.clone();
        sends.spawn(async move {
            let answer = send(&client, &delivery).await;
            (delivery, answer)
        });
    }
    // Every send finishes (each within the timeout) before any outcome is written, so that a
    // failed write cannot cut the other sends short; an outcome not written is sent again once
    // its claim ends.
    let mut outcomes = Vec::new();
    while let Some(joined) = sends.join_next().await {
        match joined {
            Ok((delivery, answer)) => outcomes.push(settle(&delivery, answer, settings)),
            Err(error) => tracing::error!(%error, "a webhook send panicked"),
        }
    }
    for outcome in outcomes {
        let delivery_id = outcome.id;
        if let Err(error) = store::webhooks::record_attempt(db, outcome).await {
            tracing::warn!(%error, delivery = %delivery_id, "recording a webhook delivery failed; it will be sent again");
        }
    }
    Ok(full)
}

/// What a try got.
#[derive(Debug)]
enum Answer {
    Status(u16),
    NoAnswer(String),
}

/// Posts the delivery's body, signed at the moment of sending.
async fn send(client: &reqwest::Client, delivery: &DueDelivery) -> Answer {
    let signature = delivery
        .secret
        .signature_header(Utc::now().timestamp(), delivery.payload.as_bytes());
    let sent = client
        .post(delivery.url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("tally-signature", signature)
        .header("tally-delivery-id", delivery.id.to_string())
        .body(delivery.payload.clone())
        .send()
        .await;
    match sent {
        Ok(response) => Answer::Status(response.status().as_u16()),
        Err(error) => Answer::NoAnswer(error_chain(&error)),
    }
}

/// The error and its causes, which say what went wrong (reqwest's own message names only the URL).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    shorten(text, MAX_ERROR_CHARS)
}

/// The outcome of a try answered with `answer` now.
fn settle(delivery: &DueDelivery, answer: Answer, settings: &AlertSettings) -> Attempted {
    settle_at(delivery, answer, settings, store::now(), rand::random())
}

fn settle_at(
    delivery: &DueDelivery,
    answer: Answer,
    settings: &AlertSettings,
    now: DateTime<Utc>,
    jitter: f64,
) -> Attempted {
    let (last_http_status, last_error) = match answer {
        Answer::Status(code) if (200..300).contains(&code) => {
            tracing::debug!(delivery = %delivery.id, status = code, "webhook delivered");
            return Attempted {
                id: delivery.id,
                status: DeliveryStatus::Delivered,
                last_http_status: Some(i64::from(code)),
                last_error: None,
                next_attempt_time: None,
                delivered_time: Some(now),
            };
        }
        Answer::Status(code) => (Some(i64::from(code)), None),
        Answer::NoAnswer(error) => (None, Some(error)),
    };
    let attempts = u32::try_from(delivery.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let next = settings
        .retry
        .next_attempt(attempts, delivery.create_time, now, jitter);
    if next.is_none() {
        tracing::warn!(delivery = %delivery.id, attempts, status = ?last_http_status, error = ?last_error, "webhook delivery given up");
    } else {
        tracing::debug!(delivery = %delivery.id, attempts, status = ?last_http_status, error = ?last_error, "webhook delivery failed; will retry");
    }
    Attempted {
        id: delivery.id,
        status: if next.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        },
        last_http_status,
        last_error,
        next_attempt_time: next,
        delivered_time: None,
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::webhook::{WebhookSecret, WebhookUrl};

    fn due(attempts: i64, create_time: DateTime<Utc>) -> DueDelivery {
        DueDelivery {
            id: Uuid::now_v7(),
            url: WebhookUrl::from_stored("http://127.0.0.1:1/".to_owned()),
            secret: WebhookSecret::from_stored("0123456789abcdef".to_owned()),
            payload: "{}".to_owned(),
            attempts,
            create_time,
        }
    }

    #[test]
    fn a_2xx_delivers_and_anything_else_retries_until_given_up() {
        let settings = AlertSettings::default();
        let created = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let delivered = settle_at(
            &due(0, created),
            Answer::Status(204),
            &settings,
            created,
            0.0,
        );
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert_eq!(delivered.delivered_time, Some(created));
        assert_eq!(delivered.next_attempt_time, None);

        let refused = settle_at(
            &due(2, created),
            Answer::Status(500),
            &settings,
            created,
            0.0,
        );
        assert_eq!(refused.status, DeliveryStatus::Pending);
        assert_eq!(refused.last_http_status, Some(500));
        // The third failed try waits 4 s.
        assert_eq!(
            refused.next_attempt_time,
            Some(created + TimeDelta::seconds(4))
        );

        let late = created + TimeDelta::days(3);
        let given_up = settle_at(
            &due(70, created),
            Answer::NoAnswer("connection refused".to_owned()),
            &settings,
            late,
            0.0,
        );
        assert_eq!(given_up.status, DeliveryStatus::Failed);
        assert_eq!(given_up.next_attempt_time, None);
        assert_eq!(given_up.last_error.as_deref(), Some("connection refused"));
        assert_eq!(given_up.last_http_status, None);

        let redirected = settle_at(
            &due(0, created),
            Answer::Status(301),
            &settings,
            created,
            0.0,
        );
        assert_eq!(redirected.status, DeliveryStatus::Pending);
    }
}
