//! Runs and their outcomes: the lifecycle `RUNNING` → `COMPLETED` or `FAILED`, and what a run
//! produced.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::money::Usd;

/// Where a run is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Running, Self::Completed, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == stored)
    }
}

/// What ending a run in `target` does from `current`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The run ends now.
    End,
    /// The run already ended this way: nothing changes.
    AlreadyThere,
    /// The run ended the other way: refused.
    Refused,
}

/// The rule of terminal transitions: a running run may end either way; ending it again the same
/// way changes nothing; the other way is refused.
pub fn transition(current: RunStatus, target: RunStatus) -> Transition {
    match (current, target) {
        (RunStatus::Running, _) => Transition::End,
        (current, target) if current == target => Transition::AlreadyThere,
        _ => Transition::Refused,
    }
}

/// The value of an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomeValue {
    /// US dollars of value created.
    Usd(Usd),
    /// A count of units produced (decimal text, never summed as money).
    Units(Decimal),
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub name: String,
    pub value: Option<OutcomeValue>,
    pub metadata: Option<serde_json::Value>,
    pub record_time: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_transitions() {
        use RunStatus::*;
        assert_eq!(transition(Running, Completed), Transition::End);
        assert_eq!(transition(Running, Failed), Transition::End);
        assert_eq!(transition(Completed, Completed), Transition::AlreadyThere);
        assert_eq!(transition(Failed, Failed), Transition::AlreadyThere);
        assert_eq!(transition(Completed, Failed), Transition::Refused);
        assert_eq!(transition(Failed, Completed), Transition::Refused);
    }
}
