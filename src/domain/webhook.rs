//! Webhook endpoints: what a URL and a secret may be, the signature a receiver checks (Stripe's
//! scheme, so that its libraries verify ours), where a delivery stands, and when a failed one is
//! tried again.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use rand::{Rng, distr::Alphanumeric};
use sha2::Sha256;

use super::{FieldViolation, error::quote};

/// The longest URL accepted, in characters (what browsers and proxies commonly take).
pub const MAX_URL_CHARS: usize = 2048;
/// The shortest secret a caller may choose: an HMAC key much shorter is guessable.
pub const MIN_SECRET_CHARS: usize = 16;
/// The longest secret a caller may choose.
pub const MAX_SECRET_CHARS: usize = 256;
/// Marks a secret Tally made, as Stripe's do, so that it is recognised in a config file.
const GENERATED_SECRET_PREFIX: &str = "whsec_";
/// Random letters and digits of a generated secret: about 238 bits.
const GENERATED_SECRET_CHARS: usize = 40;

/// An absolute `http://` or `https://` URL with a host, normalised (lowercase scheme and host, a
/// path of at least `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses the URL a caller sent; `field` names it in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self, FieldViolation> {
        if text.is_empty() {
            return Err(FieldViolation::new(field, "required"));
        }
        let chars = text.chars().count();
        if chars > MAX_URL_CHARS {
            return Err(FieldViolation::new(
                field,
                format!("at most {MAX_URL_CHARS} characters, got {chars}"),
            ));
        }
        // The URL parser silently drops tabs and newlines; a URL holding them is a mistake.
        if text.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        let url = url::Url::parse(text).map_err(|error| {
            FieldViolation::new(
                field,
                format!("{} is not an absolute URL: {error}", quote(text)),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FieldViolation::new(
                field,
                format!("scheme {} is not http or https", quote(url.scheme())),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(FieldViolation::new(field, "must name a host"));
        }
        Ok(Self(url.into()))
    }

    /// A URL read back from storage, where only parsed ones are written.
    pub fn from_stored(url: String) -> Self {
        Self(url)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key that signs the requests to one webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

/// Never printed: a secret in a log is a secret given away.
impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// The caller's secret, or a new one when it sent none; `field` names it in the error.
    pub fn parse_or_generate(text: &str, field: &str) -> Result<Self, FieldViolation> {
        if text.is_empty() {
            return Ok(Self::generate());
        }
        let chars = text.chars().count();
        if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) {
            return Err(FieldViolation::new(
                field,
                format!(
                    "{MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters, got {chars} \
                     (or empty, for one made by the server)"
                ),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// A random secret: `whsec_` and 40 letters and digits.
    pub fn generate() -> Self {
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(GENERATED_SECRET_CHARS)
            .map(char::from)
            .collect();
        Self(format!("{GENERATED_SECRET_PREFIX}{random}"))
    }

    /// A secret read back from storage.
    pub fn from_stored(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for storage and for the one answer that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Tally-Signature` header of a request with `body` sent at `unix_seconds`:
    /// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The time inside the signed
    /// text lets a receiver refuse a replayed request.
    pub fn signature_header(&self, unix_seconds: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(unix_seconds.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let signature = hex::encode(mac.finalize().into_bytes());
        format!("t={unix_seconds},v1={signature}")
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again when due.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == stored)
    }
}

/// When a delivery that got no 2xx answer is tried again: `first` after the first try, doubling
/// up to `max` between tries, each pause plus up to a tenth at random (so that the deliveries of
/// one outage do not all come back at once), until `give_up_after` has passed since the event.
// Not backon: a persisted schedule computes the n-th pause from a stored count, not an iterator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to an hour, for 3 days: a receiver down for a weekend still gets everything.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The pause after the `attempts`-th failed try (1 for the first), without jitter.
    pub fn pause(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.first.saturating_mul(1_u32 << doublings).min(self.max)
    }

    /// When to try again after the `attempts`-th failed try at `now`, for an event recorded at
    /// `created`; `None`: give up. `jitter` in `[0, 1)` picks the random share.
    pub fn next_attempt(
        &self,
        attempts: u32,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let pause = self.pause(attempts);
        let pause = pause + pause.mul_f64(jitter.clamp(0.0, 1.0) / 10.0);
        let next = now + TimeDelta::from_std(pause).ok()?;
        let deadline = created + TimeDelta::from_std(self.give_up_after).ok()?;
        (next <= deadline).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_http_with_a_host() {
        let url = WebhookUrl::parse("HTTPS://Example.com", "webhook.url").expect("valid");
        assert_eq!(url.as_str(), "https://example.com/");
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/hooks?x=1", "u").is_ok());
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://",
            "http://exa mple.com/",
            "http://example.com/\n",
            "mailto:someone@example.com",
        ] {
            let violation = WebhookUrl::parse(bad, "webhook.url").expect_err(bad);
            assert_eq!(violation.field, "webhook.url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(WebhookUrl::parse(&long, "u").is_err());
    }

    #[test]
    fn secrets_are_made_when_missing_and_bounded_when_given() {
        let made = WebhookSecret::parse_or_generate("", "secret").expect("made");
        assert!(made.expose().starts_with("whsec_"));
        assert_eq!(made.expose().len(), 6 + 40);
        assert_ne!(made, WebhookSecret::generate());
        assert!(WebhookSecret::parse_or_generate("short", "secret").is_err());
        assert!(WebhookSecret::parse_or_generate(&"k".repeat(257), "secret").is_err());
        assert!(WebhookSecret::parse_or_generate("sixteen\tchars!!!", "secret").is_err());
        let given = WebhookSecret::parse_or_generate("0123456789abcdef", "secret").expect("ok");
        assert_eq!(given.expose(), "0123456789abcdef");
        assert_eq!(format!("{given:?}"), "WebhookSecret(…)");
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_dot_body() {
        // Computed apart: python3 -c "import hmac, hashlib;
        // print(hmac.new(b'Jefe', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        let secret = WebhookSecret::from_stored("Jefe".to_owned());
        assert_eq!(
            secret.signature_header(1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
        assert_ne!(
            secret.signature_header(1, b"x"),
            secret.signature_header(2, b"x")
        );
    }

    #[test]
    fn retries_double_up_to_the_cap_and_stop_after_the_deadline() {
        let policy = RetryPolicy::default();
        let pauses: Vec<u64> = (1..=14).map(|n| policy.pause(n).as_secs()).collect();
        assert_eq!(
            pauses,
            [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600
            ]
        );
        assert_eq!(policy.pause(1_000), Duration::from_secs(3600));
        let created = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let next = policy
            .next_attempt(1, created, created, 0.0)
            .expect("retried");
        assert_eq!(next - created, TimeDelta::seconds(1));
        let jittered = policy
            .next_attempt(4, created, created, 0.999)
            .expect("retried");
        assert!(jittered - created > TimeDelta::seconds(8));
        assert!(jittered - created < TimeDelta::milliseconds(8_800));
        let late = created + TimeDelta::days(3) - TimeDelta::minutes(30);
        assert_eq!(policy.next_attempt(80, created, late, 0.0), None);
        assert!(
            policy
                .next_attempt(80, created, late - TimeDelta::minutes(31), 0.0)
                .is_some()
        );
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("pending"), None);
    }
}
