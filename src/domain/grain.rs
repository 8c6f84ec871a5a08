//! The units of time aggregates are kept in, and how a report window is cut into the coarsest
//! whole units it holds: whole months from the monthly rows, whole days around them from the daily
//! rows, the hours at either edge from the hourly rows.

use chrono::{DateTime, Datelike as _, Duration, TimeZone as _, Utc};

use super::report::{Window, floor_hour, month_start, next_month};

/// A unit of time, finest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    Hour,
    Day,
    Month,
}

impl Grain {
    /// The start of the unit holding `time` (UTC).
    pub fn floor(self, time: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Hour => floor_hour(time),
            Self::Day => Utc
                .with_ymd_and_hms(time.year(), time.month(), time.day(), 0, 0, 0)
                .single()
                .unwrap_or(time),
            Self::Month => month_start(time),
        }
    }

    /// The first start of a unit at or after `time`.
    pub fn ceil(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(time);
        if floor == time {
            time
        } else {
            self.next(floor)
        }
    }

    /// The start of the unit after the one starting at `start`.
    fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Hour => start + Duration::hours(1),
            Self::Day => start + Duration::days(1),
            Self::Month => next_month(start),
        }
    }
}

/// Cuts a window of whole hours into parts, each made of whole units of one grain: the coarsest
/// of `coarse` (coarsest first) that fits, finer ones around it, hours at the edges. The parts are
/// disjoint, cover the window exactly, and come in time order.
pub fn segments(window: Window, coarse: &[Grain]) -> Vec<(Grain, Window)> {
    let mut out = Vec::new();
    cut(window, coarse, &mut out);
    out
}

fn cut(window: Window, coarse: &[Grain], out: &mut Vec<(Grain, Window)>) {
    let Some((&grain, finer)) = coarse.split_first() else {
        out.push((Grain::Hour, window));
        return;
    };
    let (start, end) = (grain.ceil(window.start), grain.floor(window.end));
    if start >= end {
        cut(window, finer, out);
        return;
    }
    if window.start < start {
        cut(
            Window {
                start: window.start,
                end: start,
            },
            finer,
            out,
        );
    }
    out.push((grain, Window { start, end }));
    if end < window.end {
        cut(
            Window {
                start: end,
                end: window.end,
            },
            finer,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: at(start),
            end: at(end),
        }
    }

    fn shown(parts: &[(Grain, Window)]) -> Vec<String> {
        parts
            .iter()
            .map(|(grain, w)| format!("{grain:?} {} {}", w.start.to_rfc3339(), w.end.to_rfc3339()))
            .collect()
    }

    #[test]
    fn a_window_is_cut_into_months_then_days_then_hours() {
        let w = window("2026-09-29T22:00:00Z", "2026-12-02T03:00:00Z");
        let parts = segments(w, &[Grain::Month, Grain::Day]);
        assert_eq!(
            shown(&parts),
            [
                "Hour 2026-09-29T22:00:00+00:00 2026-09-30T00:00:00+00:00",
                "Day 2026-09-30T00:00:00+00:00 2026-10-01T00:00:00+00:00",
                "Month 2026-10-01T00:00:00+00:00 2026-12-01T00:00:00+00:00",
                "Day 2026-12-01T00:00:00+00:00 2026-12-02T00:00:00+00:00",
                "Hour 2026-12-02T00:00:00+00:00 2026-12-02T03:00:00+00:00",
            ]
        );
    }

    #[test]
    fn without_coarse_grains_or_whole_units_the_window_stays_hours() {
        let w = window("2026-11-03T05:00:00Z", "2026-11-03T09:00:00Z");
        assert_eq!(
            shown(&segments(w, &[Grain::Month, Grain::Day])),
            ["Hour 2026-11-03T05:00:00+00:00 2026-11-03T09:00:00+00:00"]
        );
        let w = window("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
        assert_eq!(
            shown(&segments(w, &[])),
            ["Hour 2026-11-01T00:00:00+00:00 2026-12-01T00:00:00+00:00"]
        );
        assert_eq!(
            shown(&segments(w, &[Grain::Month])),
            ["Month 2026-11-01T00:00:00+00:00 2026-12-01T00:00:00+00:00"]
        );
    }

    #[test]
    fn days_without_months_cover_a_rolling_window() {
        let w = window("2026-10-30T15:00:00Z", "2026-11-29T15:00:00Z");
        let parts = segments(w, &[Grain::Day]);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].0, Grain::Day);
        assert_eq!(parts[1].1.start, at("2026-10-31T00:00:00Z"));
        assert_eq!(parts[1].1.end, at("2026-11-29T00:00:00Z"));
    }
}
