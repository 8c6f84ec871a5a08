//! Budget alerts: a budget's spend in a calendar month reaching 50, 80 and 100 % of its monthly
//! limit, and a BLOCK budget's first denial in a month; each once per budget and month. Here are
//! the thresholds a spend has reached and the JSON body that tells a webhook of an alert.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    budget::{Enforcement, Limits, Scope, ScopeKind},
    money::Usd,
};

/// The thresholds watched, in percent of the monthly limit.
pub const THRESHOLD_PERCENTS: [u8; 3] = [50, 80, 100];

/// What an alert tells of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// Spend reached this percentage of the monthly limit.
    Threshold(u8),
    /// A BLOCK budget denied a step for the first time in the month.
    Denied,
}

impl AlertKind {
    /// The stored event type.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Threshold(_) => "BUDGET_THRESHOLD_CROSSED",
            Self::Denied => "BUDGET_DENIED",
        }
    }

    /// The stored threshold: the percentage, 0 for a denial (part of the alert's unique key,
    /// so never NULL).
    pub fn threshold_percent(self) -> i64 {
        match self {
            Self::Threshold(percent) => i64::from(percent),
            Self::Denied => 0,
        }
    }

    /// The kind of a stored alert.
    pub fn parse(event_type: &str, threshold_percent: i64) -> Option<Self> {
        match event_type {
            "BUDGET_DENIED" => Some(Self::Denied),
            "BUDGET_THRESHOLD_CROSSED" => u8::try_from(threshold_percent)
                .ok()
                .filter(|percent| THRESHOLD_PERCENTS.contains(percent))
                .map(Self::Threshold),
            _ => None,
        }
    }

    /// The `type` of the JSON body.
    fn wire_type(self) -> &'static str {
        match self {
            Self::Threshold(_) => "budget.threshold_crossed",
            Self::Denied => "budget.denied",
        }
    }
}

/// The thresholds `spent` has reached against a monthly `limit` (none for a limit of zero or
/// less, which every spend "reaches" and no alert would help with). Exact: integers of 1e-10 USD
/// compared in i128, never a float.
pub fn thresholds_reached(limit: Usd, spent: Usd) -> impl Iterator<Item = u8> {
    let (limit, spent) = (i128::from(limit.e10()), i128::from(spent.e10()));
    THRESHOLD_PERCENTS
        .into_iter()
        .filter(move |percent| limit > 0 && spent * 100 >= limit * i128::from(*percent))
}

/// The budget an alert is about, as it was when the alert was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertedBudget {
    pub id: Uuid,
    pub name: String,
    pub scope: Scope,
    pub limits: Limits,
    pub enforcement: Enforcement,
}

/// A budget alert to record and deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub id: Uuid,
    pub project_id: Uuid,
    pub budget: AlertedBudget,
    /// First instant of the calendar month.
    pub month_start: DateTime<Utc>,
    pub kind: AlertKind,
    /// The month's spend when the alert was recorded.
    pub spent: Usd,
    pub create_time: DateTime<Utc>,
}

impl Alert {
    /// The JSON body of the delivery `delivery_id` of this alert. Money as decimal strings with
    /// 10 places (a JSON number is a float to most parsers), enum values as the contract names
    /// them, times in RFC 3339 UTC.
    pub fn payload(&self, delivery_id: Uuid) -> String {
        let budget = &self.budget;
        let usd = |amount: Option<Usd>| amount.map_or(Value::Null, |usd| usd.to_string().into());
        let threshold = match self.kind {
            AlertKind::Threshold(percent) => Value::from(percent),
            AlertKind::Denied => Value::Null,
        };
        json!({
            "delivery_id": delivery_id.to_string(),
            "alert_id": self.id.to_string(),
            "type": self.kind.wire_type(),
            "create_time": rfc3339(self.create_time),
            "project_id": self.project_id.to_string(),
            "budget": {
                "budget_id": budget.id.to_string(),
                "name": budget.name,
                "scope": {
                    "kind": scope_kind_name(budget.scope.kind),
                    "customer_id": budget.scope.customer_id,
                    "agent_code": budget.scope.agent_code,
                },
                "enforcement": enforcement_name(budget.enforcement),
                "monthly_limit_usd": usd(budget.limits.monthly),
                "per_run_limit_usd": usd(budget.limits.per_run),
            },
            "month_start_time": rfc3339(self.month_start),
            "threshold_percent": threshold,
            "limit_usd": usd(budget.limits.monthly),
            "spent_usd": self.spent.to_string(),
        })
        .to_string()
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The contract's name of a scope kind (`budgets.proto`).
fn scope_kind_name(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Project => "BUDGET_SCOPE_KIND_PROJECT",
        ScopeKind::Customer => "BUDGET_SCOPE_KIND_CUSTOMER",
        ScopeKind::Agent => "BUDGET_SCOPE_KIND_AGENT",
        ScopeKind::CustomerAgent => "BUDGET_SCOPE_KIND_CUSTOMER_AGENT",
    }
}

/// The contract's name of an enforcement (`budgets.proto`).
fn enforcement_name(enforcement: Enforcement) -> &'static str {
    match enforcement {
        Enforcement::Alert => "BUDGET_ENFORCEMENT_ALERT",
        Enforcement::Block => "BUDGET_ENFORCEMENT_BLOCK",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Usd {
        Usd::parse(text).expect("amount")
    }

    #[test]
    fn thresholds_are_reached_at_their_exact_share() {
        let reached = |limit: &str, spent: &str| -> Vec<u8> {
            thresholds_reached(usd(limit), usd(spent)).collect()
        };
        assert_eq!(reached("10", "0"), Vec::<u8>::new());
        assert_eq!(reached("10", "4.9999999999"), Vec::<u8>::new());
        assert_eq!(reached("10", "5"), [50]);
        assert_eq!(reached("10", "7.9999999999"), [50]);
        assert_eq!(reached("10", "8"), [50, 80]);
        assert_eq!(reached("10", "10"), [50, 80, 100]);
        assert_eq!(reached("10", "250"), [50, 80, 100]);
        // Odd limits: 50 % of 0.0000000001 is half a unit, reached only by the whole unit.
        assert_eq!(reached("0.0000000001", "0"), Vec::<u8>::new());
        assert_eq!(reached("0.0000000001", "0.0000000001"), [50, 80, 100]);
        assert_eq!(reached("0", "1"), Vec::<u8>::new());
        // No overflow at the top of the range.
        let most = Usd::from_e10(i64::MAX);
        assert_eq!(thresholds_reached(most, most).count(), 3);
    }

    #[test]
    fn kinds_round_trip_through_storage() {
        for kind in [
            AlertKind::Threshold(50),
            AlertKind::Threshold(80),
            AlertKind::Threshold(100),
            AlertKind::Denied,
        ] {
            assert_eq!(
                AlertKind::parse(kind.event_type(), kind.threshold_percent()),
                Some(kind)
            );
        }
        assert_eq!(AlertKind::parse("BUDGET_THRESHOLD_CROSSED", 70), None);
        assert_eq!(AlertKind::parse("OTHER", 0), None);
    }

    #[test]
    fn payloads_carry_money_as_decimal_strings() {
        let alert = Alert {
            id: Uuid::nil(),
            project_id: Uuid::nil(),
            budget: AlertedBudget {
                id: Uuid::nil(),
                name: "support".to_owned(),
                scope: Scope {
                    kind: ScopeKind::Customer,
                    customer_id: Some("acme".to_owned()),
                    agent_code: None,
                },
                limits: Limits {
                    monthly: Some(usd("10")),
                    per_run: None,
                },
                enforcement: Enforcement::Alert,
            },
            month_start: DateTime::from_timestamp(1_764_547_200, 0).expect("time"),
            kind: AlertKind::Threshold(80),
            spent: usd("8.0000000001"),
            create_time: DateTime::from_timestamp(1_764_550_000, 500_000_000).expect("time"),
        };
        let body: Value = serde_json::from_str(&alert.payload(Uuid::max())).expect("JSON");
        assert_eq!(body["delivery_id"], Uuid::max().to_string());
        assert_eq!(body["type"], "budget.threshold_crossed");
        assert_eq!(body["threshold_percent"], 80);
        assert_eq!(body["limit_usd"], "10.0000000000");
        assert_eq!(body["spent_usd"], "8.0000000001");
        assert_eq!(body["month_start_time"], "2025-12-01T00:00:00Z");
        assert_eq!(body["create_time"], "2025-12-01T00:46:40.500Z");
        assert_eq!(
            body["budget"]["scope"]["kind"],
            "BUDGET_SCOPE_KIND_CUSTOMER"
        );
        assert_eq!(body["budget"]["scope"]["agent_code"], Value::Null);
        assert_eq!(body["budget"]["per_run_limit_usd"], Value::Null);
        let denied = Alert {
            kind: AlertKind::Denied,
            ..alert
        };
        let body: Value = serde_json::from_str(&denied.payload(Uuid::nil())).expect("JSON");
        assert_eq!(body["type"], "budget.denied");
        assert_eq!(body["threshold_percent"], Value::Null);
    }
}
