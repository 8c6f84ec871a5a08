//! Budgets: a spending limit on a scope, per calendar month (UTC) and/or per run, enforced as `ALERT`
//! (report only) or `BLOCK` (deny the step).

use super::{Violations, money::Usd, text};

/// What a budget covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    Project,
    Customer,
    Agent,
    CustomerAgent,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "PROJECT",
            Self::Customer => "CUSTOMER",
            Self::Agent => "AGENT",
            Self::CustomerAgent => "CUSTOMER_AGENT",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [
            Self::Project,
            Self::Customer,
            Self::Agent,
            Self::CustomerAgent,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == stored)
    }

    fn needs_customer(self) -> bool {
        matches!(self, Self::Customer | Self::CustomerAgent)
    }

    fn needs_agent(self) -> bool {
        matches!(self, Self::Agent | Self::CustomerAgent)
    }
}

/// The scope of a budget: its kind and the customer and agent it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub kind: ScopeKind,
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
}

impl Scope {
    /// Checks that the scope names exactly what its kind needs. `field` is the scope's path.
    pub fn parse(
        kind: Option<ScopeKind>,
        customer_id: &str,
        agent_code: &str,
        field: &str,
        violations: &mut Violations,
    ) -> Option<Self> {
        let Some(kind) = kind else {
            violations.add(
                format!("{field}.kind"),
                "required: PROJECT, CUSTOMER, AGENT or CUSTOMER_AGENT",
            );
            return None;
        };
        let customer = named_part(
            kind.needs_customer(),
            customer_id,
            &format!("{field}.customer_id"),
            kind,
            violations,
        );
        let agent = named_part(
            kind.needs_agent(),
            agent_code,
            &format!("{field}.agent_code"),
            kind,
            violations,
        );
        Some(Self {
            kind,
            customer_id: customer?,
            agent_code: agent?,
        })
    }
}

/// Checks one part of a scope: present and valid where the kind needs it, empty where it does not.
fn named_part(
    needed: bool,
    value: &str,
    field: &str,
    kind: ScopeKind,
    violations: &mut Violations,
) -> Option<Option<String>> {
    match (needed, value.is_empty()) {
        (true, true) => {
            violations.add(field, format!("required for scope kind {}", kind.as_str()));
            None
        }
        (true, false) => violations.check(text::identifier(value, field)).map(Some),
        (false, false) => {
            violations.add(
                field,
                format!("must be empty for scope kind {}", kind.as_str()),
            );
            None
        }
        (false, true) => Some(None),
    }
}

/// Whether passing a limit denies the step or only reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    Alert,
    Block,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "ALERT",
            Self::Block => "BLOCK",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "ALERT" => Some(Self::Alert),
            "BLOCK" => Some(Self::Block),
            _ => None,
        }
    }
}

/// The limits of a budget; at least one is set, none is negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub monthly: Option<Usd>,
    pub per_run: Option<Usd>,
}

impl Limits {
    /// Parses the two limit fields (empty means no limit) under `field` (`budget`).
    pub fn parse(
        monthly: &str,
        per_run: &str,
        field: &str,
        violations: &mut Violations,
    ) -> Option<Self> {
        let monthly = optional_limit(monthly, &format!("{field}.monthly_limit_usd"), violations);
        let per_run = optional_limit(per_run, &format!("{field}.per_run_limit_usd"), violations);
        let limits = Self {
            monthly: monthly?,
            per_run: per_run?,
        };
        limits.check(field, violations)
    }

    /// Checks that at least one limit is set.
    pub fn check(self, field: &str, violations: &mut Violations) -> Option<Self> {
        if self.monthly.is_none() && self.per_run.is_none() {
            violations.add(
                format!("{field}.monthly_limit_usd"),
                "at least one of monthly_limit_usd and per_run_limit_usd is required",
            );
            return None;
        }
        Some(self)
    }
}

/// Parses an optional limit: empty is none; otherwise an amount.
pub fn optional_limit(text: &str, field: &str, violations: &mut Violations) -> Option<Option<Usd>> {
    if text.is_empty() {
        return Some(None);
    }
    Usd::parse(text)
        .map_err(|message| violations.add(field, message))
        .ok()
        .map(Some)
}

/// A budget to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBudget {
    pub name: String,
    pub scope: Scope,
    pub limits: Limits,
    pub enforcement: Enforcement,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetChanges {
    pub name: Option<String>,
    pub monthly_limit: Option<Option<Usd>>,
    pub per_run_limit: Option<Option<Usd>>,
    pub enforcement: Option<Enforcement>,
}

impl BudgetChanges {
    /// The limits after applying the changes to `current`.
    pub fn apply_to(&self, current: Limits) -> Limits {
        Limits {
            monthly: self.monthly_limit.unwrap_or(current.monthly),
            per_run: self.per_run_limit.unwrap_or(current.per_run),
        }
    }
}

/// The period a limit counts spend over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The calendar month (UTC).
    Month,
    /// One run.
    Run,
}

/// How one limit of one budget stands for the next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub window: Window,
    pub limit: Usd,
    pub spent: Usd,
    /// What open holds set aside in the window, apart from `spent`.
    pub held: Usd,
    /// The limit less spend and holds.
    pub remaining: Usd,
    /// Spend is already over the limit.
    pub exceeded: bool,
    /// Spend plus holds plus the estimated next step would be over the limit.
    pub would_exceed: bool,
    /// A `BLOCK` budget that is or would be over: the step may not go ahead.
    pub denies: bool,
}

/// Where `spent` and `held` stand against `limit` if a step of `estimate` follows. A hold counts
/// as spent: a BLOCK limit denies a step once spend, holds and the estimate together would pass
/// it (the store's check that places a hold decides the same way, see `store::budgets::check`).
pub fn stand(
    window: Window,
    limit: Usd,
    spent: Usd,
    held: Usd,
    estimate: Usd,
    enforcement: Enforcement,
) -> Standing {
    let committed = spent.e10().saturating_add(held.e10());
    let remaining = Usd::from_e10(limit.e10().saturating_sub(committed));
    let exceeded = spent > limit;
    let would_exceed = committed.saturating_add(estimate.e10()) > limit.e10();
    Standing {
        window,
        limit,
        spent,
        held,
        remaining,
        exceeded,
        would_exceed,
        denies: enforcement == Enforcement::Block && (exceeded || would_exceed),
    }
}

impl Scope {
    /// Whether the budget covers work for this customer and agent.
    pub fn covers(&self, customer_id: &str, agent_code: &str) -> bool {
        self.customer_id
            .as_deref()
            .is_none_or(|id| id == customer_id)
            && self
                .agent_code
                .as_deref()
                .is_none_or(|code| code == agent_code)
    }

    /// The `monthly_spend` key that holds this scope's spend: `''` stands for all.
    pub fn spend_key(&self) -> (&str, &str) {
        (
            self.customer_id.as_deref().unwrap_or(""),
            self.agent_code.as_deref().unwrap_or(""),
        )
    }
}

#[cfg(test)]
mod standing_tests {
    use super::*;

    fn usd(text: &str) -> Usd {
        Usd::parse(text).expect("usd")
    }

    #[test]
    fn a_block_budget_denies_what_would_pass_its_limit() {
        let at_limit = stand(
            Window::Run,
            usd("0.50"),
            usd("0.50"),
            Usd::ZERO,
            Usd::ZERO,
            Enforcement::Block,
        );
        assert!(
            !at_limit.exceeded && !at_limit.denies,
            "reaching the limit is not passing it"
        );
        let next = stand(
            Window::Run,
            usd("0.50"),
            usd("0.45"),
            Usd::ZERO,
            usd("0.10"),
            Enforcement::Block,
        );
        assert!(!next.exceeded && next.would_exceed && next.denies);
        assert_eq!(next.remaining, usd("0.05"));
        let over = stand(
            Window::Month,
            usd("10"),
            usd("12"),
            Usd::ZERO,
            Usd::ZERO,
            Enforcement::Block,
        );
        assert!(over.exceeded && over.denies);
        assert_eq!(over.remaining, Usd::from_e10(-20_000_000_000), "-2 USD");
    }

    #[test]
    fn holds_count_as_spent_but_apart() {
        let held = stand(
            Window::Month,
            usd("0.50"),
            usd("0.30"),
            usd("0.15"),
            usd("0.05"),
            Enforcement::Block,
        );
        assert!(!held.exceeded && !held.would_exceed && !held.denies);
        assert_eq!(held.remaining, usd("0.05"));
        let next = stand(
            Window::Month,
            usd("0.50"),
            usd("0.30"),
            usd("0.15"),
            usd("0.0500000001"),
            Enforcement::Block,
        );
        assert!(!next.exceeded && next.would_exceed && next.denies);
    }

    #[test]
    fn an_alert_budget_never_denies() {
        let over = stand(
            Window::Month,
            usd("10"),
            usd("12"),
            Usd::ZERO,
            usd("1"),
            Enforcement::Alert,
        );
        assert!(over.exceeded && over.would_exceed && !over.denies);
    }

    #[test]
    fn scopes_cover_their_customer_and_agent() {
        let both = Scope {
            kind: ScopeKind::CustomerAgent,
            customer_id: Some("c".into()),
            agent_code: Some("a".into()),
        };
        assert!(both.covers("c", "a") && !both.covers("c", "b") && !both.covers("d", "a"));
        let project = Scope {
            kind: ScopeKind::Project,
            customer_id: None,
            agent_code: None,
        };
        assert!(project.covers("anyone", "anything"));
        assert_eq!(project.spend_key(), ("", ""));
        assert_eq!(both.spend_key(), ("c", "a"));
    }
}
