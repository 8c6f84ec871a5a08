//! Report requests: dimensions, filters and time windows, checked before any read, and what a
//! grouping can carry (revenue, usage revenue, run counts).

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

use super::{FieldViolation, Violations};

/// Longest window a report covers: two years, enough to compare a year with the one before, short
/// enough that a mistyped year does not scan a decade of aggregates.
pub const MAX_WINDOW_DAYS: i64 = 731;

/// A dimension reports group, filter or split by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Customer,
    Plan,
    Agent,
    Signal,
    Provider,
    Model,
    User,
}

impl Dimension {
    /// The column of the hourly aggregates that holds the dimension.
    pub fn column(self) -> &'static str {
        match self {
            Self::Customer => "customer_id",
            Self::Plan => "plan_name",
            Self::Agent => "agent_code",
            Self::Signal => "signal_name",
            Self::Provider => "provider",
            Self::Model => "model",
            Self::User => "user_id",
        }
    }

    /// Whether the dimension belongs to service lines rather than events.
    pub fn is_line_level(self) -> bool {
        matches!(self, Self::Provider | Self::Model)
    }

    /// Whether revenue (plan fees) can be attributed to groups of this dimension.
    pub fn carries_revenue(self) -> bool {
        matches!(self, Self::Customer | Self::Plan)
    }

    /// Whether the runs started can be counted in groups of this dimension (a run has a customer,
    /// plan, agent and user, but no signal or model).
    pub fn carries_runs(self) -> bool {
        matches!(self, Self::Customer | Self::Plan | Self::Agent | Self::User)
    }

    /// Lowercase name for notes and fingerprints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Plan => "plan",
            Self::Agent => "agent",
            Self::Signal => "signal",
            Self::Provider => "provider",
            Self::Model => "model",
            Self::User => "user",
        }
    }
}

/// Keeps the rows whose value of `dimension` is one of `values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

impl Filter {
    /// Whether `value` passes.
    pub fn keeps(&self, value: &str) -> bool {
        self.values.iter().any(|kept| kept == value)
    }
}

/// Values one filter may list: each is a bound parameter of the report's query, and the databases
/// take at most 32,766 (SQLite) or 65,535 (PostgreSQL) in one statement.
pub const MAX_FILTER_VALUES: usize = 1_000;

/// Reads the filters of a request: each dimension at most once, 1 to [`MAX_FILTER_VALUES`] values
/// each; provider and model values lowercased and trimmed as the aggregates keep them.
/// `dimensions[i]` is `None` for an unspecified dimension.
pub fn filters(
    raw: Vec<(Option<Dimension>, Vec<String>)>,
    violations: &mut Violations,
) -> Vec<Filter> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (index, (dimension, values)) in raw.into_iter().enumerate() {
        let Some(dimension) = dimension else {
            violations.add(
                format!("filters[{index}].dimension"),
                "required: a dimension other than UNSPECIFIED",
            );
            continue;
        };
        if seen.contains(&dimension) {
            violations.add(
                format!("filters[{index}].dimension"),
                format!("{} is filtered more than once", dimension.name()),
            );
            continue;
        }
        seen.push(dimension);
        if values.is_empty() || values.len() > MAX_FILTER_VALUES {
            violations.add(
                format!("filters[{index}].values"),
                format!("1 to {MAX_FILTER_VALUES} values, got {}", values.len()),
            );
            continue;
        }
        // A value no id or name can be (such as one with U+0000) matches nothing: refused. The
        // empty string stays: it matches events without a value.
        let unmatchable = values.iter().enumerate().find_map(|(at, value)| {
            super::text::filter(value.clone(), &format!("filters[{index}].values[{at}]")).err()
        });
        if let Some(violation) = unmatchable {
            violations.check::<()>(Err(violation));
            continue;
        }
        let values = if dimension.is_line_level() {
            values.iter().map(|v| v.trim().to_lowercase()).collect()
        } else {
            values
        };
        out.push(Filter { dimension, values });
    }
    out
}

/// Reads the dimensions to group by: each at most once, none unspecified.
pub fn group_by(raw: Vec<Option<Dimension>>, violations: &mut Violations) -> Vec<Dimension> {
    let mut out = Vec::new();
    for (index, dimension) in raw.into_iter().enumerate() {
        match dimension {
            None => violations.add(
                format!("group_by[{index}]"),
                "a dimension other than UNSPECIFIED",
            ),
            Some(dimension) if out.contains(&dimension) => violations.add(
                format!("group_by[{index}]"),
                format!("{} is grouped more than once", dimension.name()),
            ),
            Some(dimension) => out.push(dimension),
        }
    }
    out
}

/// A report window: whole UTC hours, `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// Checks a window: both times set, on whole hours, `end` after `start`, at most
    /// [`MAX_WINDOW_DAYS`] long. Every violation is recorded.
    pub fn parse(
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        violations: &mut Violations,
    ) -> Option<Self> {
        let check = |time: Option<DateTime<Utc>>, field: &str| match time {
            None => Err(FieldViolation::new(field, "required")),
            Some(time) if !is_whole_hour(time) => Err(FieldViolation::new(
                field,
                "must be on a whole UTC hour (minutes, seconds and fractions zero)",
            )),
            Some(time) => Ok(time),
        };
        let start = violations.check(check(start, "start_time"));
        let end = violations.check(check(end, "end_time"));
        let (start, end) = (start?, end?);
        if end <= start {
            violations.add("end_time", "must be after start_time");
            return None;
        }
        if end - start > Duration::days(MAX_WINDOW_DAYS) {
            violations.add(
                "end_time",
                format!("the window may span at most {MAX_WINDOW_DAYS} days"),
            );
            return None;
        }
        Some(Self { start, end })
    }

    /// The part of this window inside `[start, end)`, if any.
    pub fn clip(
        self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (from, to) = (self.start.max(start), self.end.min(end));
        (from < to).then_some((from, to))
    }
}

/// Whether `time` is on a whole UTC hour.
pub fn is_whole_hour(time: DateTime<Utc>) -> bool {
    time.minute() == 0 && time.second() == 0 && time.nanosecond() == 0
}

/// The start of the hour holding `time`.
pub fn floor_hour(time: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(time.year(), time.month(), time.day(), time.hour(), 0, 0)
        .single()
        .unwrap_or(time)
}

/// The first whole hour at or after `time`.
pub fn ceil_hour(time: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_hour(time);
    if floor == time {
        time
    } else {
        floor + Duration::hours(1)
    }
}

/// The start of the calendar month (UTC) holding `time`.
pub fn month_start(time: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(time)
}

/// The start of the calendar month after the one holding `time`.
pub fn next_month(time: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if time.month() == 12 {
        (time.year() + 1, 1)
    } else {
        (time.year(), time.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(time)
}

/// What a grouping (with its filters) can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Plan fees and total revenue: only CUSTOMER and PLAN used.
    pub revenue: bool,
    /// Signal quantity × price: no PROVIDER or MODEL used.
    pub usage_revenue: bool,
    /// Runs started: only CUSTOMER, PLAN, AGENT and USER used.
    pub runs: bool,
    /// Figures come from the line aggregates (PROVIDER or MODEL used).
    pub line_level: bool,
}

impl Capabilities {
    /// What the dimensions grouped and filtered allow.
    pub fn of(used: impl IntoIterator<Item = Dimension> + Clone) -> Self {
        let all = |test: fn(Dimension) -> bool| used.clone().into_iter().all(test);
        let line_level = used.clone().into_iter().any(Dimension::is_line_level);
        Self {
            revenue: all(Dimension::carries_revenue),
            usage_revenue: !line_level,
            runs: all(Dimension::carries_runs),
            line_level,
        }
    }

    /// Why revenue is partial or missing; empty when revenue is available.
    pub fn revenue_note(self, used: &[Dimension]) -> String {
        if self.revenue {
            return String::new();
        }
        let mut blocking: Vec<&str> = Vec::new();
        for dimension in used.iter().filter(|dimension| !dimension.carries_revenue()) {
            if !blocking.contains(&dimension.name()) {
                blocking.push(dimension.name());
            }
        }
        let mut note = format!("plan revenue cannot be split by {}", blocking.join(" or "));
        if self.usage_revenue {
            note.push_str("; usage revenue is given alone");
        } else {
            note.push_str(
                "; nor usage revenue, as an event's quantity is not split across its lines",
            );
        }
        note
    }
}

/// A percentage as the wire shows it: exactly 2 places.
pub fn percent_text(value: Option<rust_decimal::Decimal>) -> String {
    value.map_or_else(String::new, |value| format!("{value:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn windows_name_the_field_at_fault() {
        let mut violations = Violations::default();
        assert!(Window::parse(None, Some(at("2026-11-01T00:30:00Z")), &mut violations).is_none());
        let err = violations.into_result().unwrap_err().to_string();
        assert!(err.contains("start_time: required"), "{err}");
        assert!(
            err.contains("end_time: must be on a whole UTC hour"),
            "{err}"
        );

        let mut violations = Violations::default();
        let start = at("2026-11-01T00:00:00Z");
        assert!(Window::parse(Some(start), Some(start), &mut violations).is_none());
        assert!(
            violations
                .into_result()
                .unwrap_err()
                .to_string()
                .contains("end_time: must be after")
        );

        let mut violations = Violations::default();
        let far = start + Duration::days(MAX_WINDOW_DAYS + 1);
        assert!(Window::parse(Some(start), Some(far), &mut violations).is_none());

        let mut violations = Violations::default();
        let ok = Window::parse(
            Some(start),
            Some(start + Duration::hours(1)),
            &mut violations,
        );
        assert!(ok.is_some() && violations.into_result().is_ok());
    }

    #[test]
    fn capabilities_follow_the_dimensions_used() {
        use Dimension::*;
        let caps = Capabilities::of([Customer, Plan]);
        assert!(caps.revenue && caps.usage_revenue && caps.runs && !caps.line_level);
        let caps = Capabilities::of([Customer, Agent]);
        assert!(!caps.revenue && caps.usage_revenue && caps.runs);
        let caps = Capabilities::of([Signal]);
        assert!(!caps.revenue && caps.usage_revenue && !caps.runs);
        let caps = Capabilities::of([Model]);
        assert!(!caps.revenue && !caps.usage_revenue && !caps.runs && caps.line_level);
        assert_eq!(
            caps.revenue_note(&[Model]),
            "plan revenue cannot be split by model; nor usage revenue, as an event's quantity is not split across its lines"
        );
    }

    #[test]
    fn percentages_show_two_places() {
        use rust_decimal::Decimal;
        assert_eq!(percent_text(Some(Decimal::new(125, 1))), "12.50");
        assert_eq!(percent_text(Some(Decimal::new(-12500, 2))), "-125.00");
        assert_eq!(percent_text(Some(Decimal::ZERO)), "0.00");
        assert_eq!(percent_text(None), "");
    }

    #[test]
    fn hours_and_months() {
        assert_eq!(
            floor_hour(at("2026-11-01T10:30:00Z")),
            at("2026-11-01T10:00:00Z")
        );
        assert_eq!(
            ceil_hour(at("2026-11-01T10:30:00Z")),
            at("2026-11-01T11:00:00Z")
        );
        assert_eq!(
            ceil_hour(at("2026-11-01T10:00:00Z")),
            at("2026-11-01T10:00:00Z")
        );
        assert_eq!(
            month_start(at("2026-12-31T23:00:00Z")),
            at("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            next_month(at("2026-12-31T23:00:00Z")),
            at("2027-01-01T00:00:00Z")
        );
    }
}
