//! Holds: amounts a budget check sets aside for a step until the step's event settles them
//! (authorize, then capture), they are released, or they expire.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::money::Usd;

/// How long a hold counts when the caller does not say, in seconds.
pub const DEFAULT_TTL_SECONDS: i64 = 5 * 60;
/// The longest a hold may count, in seconds: a step that takes longer should hold again.
pub const MAX_TTL_SECONDS: i64 = 60 * 60;

/// The time to live of a hold: `requested`, or the default when unset. More than 0 and at most
/// an hour, else why not.
pub fn ttl(requested: Option<TimeDelta>) -> Result<TimeDelta, String> {
    let Some(ttl) = requested else {
        return Ok(TimeDelta::seconds(DEFAULT_TTL_SECONDS));
    };
    if ttl <= TimeDelta::zero() {
        return Err("must be more than 0".into());
    }
    if ttl > TimeDelta::seconds(MAX_TTL_SECONDS) {
        return Err(format!(
            "must be at most {MAX_TTL_SECONDS} seconds (1 hour)"
        ));
    }
    Ok(ttl)
}

/// How a hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// By the event that recorded its step.
    Settled,
    /// By `ReleaseHold`.
    Released,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Settled => "SETTLED",
            Ending::Released => "RELEASED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SETTLED" => Some(Ending::Settled),
            "RELEASED" => Some(Ending::Released),
            _ => None,
        }
    }
}

/// Where a hold stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    Settled,
    Released,
    Expired,
}

/// A hold as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub id: Uuid,
    pub customer_id: String,
    pub agent_code: String,
    pub run_key: Option<String>,
    pub amount: Usd,
    pub month_start: DateTime<Utc>,
    pub create_time: DateTime<Utc>,
    pub expire_time: DateTime<Utc>,
    /// When and how it ended; `None` while open or expired.
    pub ended: Option<(DateTime<Utc>, Ending)>,
    pub event_id: Option<Uuid>,
    /// The settling event's cost; `None` when unknown or not settled.
    pub settled_cost: Option<Usd>,
}

impl Hold {
    /// Where it stands at `now`: an unended hold stops counting at its expiry.
    pub fn state(&self, now: DateTime<Utc>) -> State {
        match self.ended {
            Some((_, Ending::Settled)) => State::Settled,
            Some((_, Ending::Released)) => State::Released,
            None if self.expire_time <= now => State::Expired,
            None => State::Open,
        }
    }

    /// What the step cost above the amount held (zero when it cost less); `None` unless settled
    /// with a known cost.
    pub fn overrun(&self) -> Option<Usd> {
        self.settled_cost
            .map(|cost| Usd::from_e10(cost.e10().saturating_sub(self.amount.e10()).max(0)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn hold(ended: Option<(DateTime<Utc>, Ending)>, settled_cost: Option<i64>) -> Hold {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        Hold {
            id: Uuid::nil(),
            customer_id: "c".into(),
            agent_code: "a".into(),
            run_key: None,
            amount: Usd::from_e10(100),
            month_start: at,
            create_time: at,
            expire_time: at + chrono::Duration::minutes(5),
            ended,
            event_id: None,
            settled_cost: settled_cost.map(Usd::from_e10),
        }
    }

    #[test]
    fn a_ttl_is_more_than_zero_and_at_most_an_hour() {
        assert_eq!(ttl(None), Ok(TimeDelta::minutes(5)));
        assert_eq!(ttl(Some(TimeDelta::hours(1))), Ok(TimeDelta::hours(1)));
        assert!(ttl(Some(TimeDelta::zero())).is_err());
        assert!(ttl(Some(TimeDelta::hours(1) + TimeDelta::microseconds(1))).is_err());
    }

    #[test]
    fn an_open_hold_expires_by_itself() {
        let open = hold(None, None);
        assert_eq!(open.state(open.create_time), State::Open);
        assert_eq!(open.state(open.expire_time), State::Expired);
        let settled = hold(Some((open.create_time, Ending::Settled)), Some(130));
        assert_eq!(settled.state(open.expire_time), State::Settled);
    }

    #[test]
    fn the_overrun_is_what_the_step_cost_above_its_hold() {
        assert_eq!(hold(None, Some(130)).overrun(), Some(Usd::from_e10(30)));
        assert_eq!(hold(None, Some(70)).overrun(), Some(Usd::ZERO));
        assert_eq!(hold(None, None).overrun(), None);
    }
}
