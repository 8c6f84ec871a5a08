//! A data set for the margin, cost series and risky accounts reports, sent through the API, and the
//! figures the reports must give computed here from the raw records (not from the server).
//!
//! September 2026 (30 days) is the main window; a few events fall in August and October.
//! - acme: plan pro (99/month) from its first event (Sep 2, 05:00), team (300/month) from Sep 15
//!   by `UpdateCustomer` (re-attributing its later events).
//! - beta: plan basic (30/month) from its first event, Aug 31.
//! - gamma: plan pro from Sep 6 by `UpdateCustomer` with `allow_missing`, and no events.
//! - delta: no plan, some cost.
//!
//! Signal `ticket` is priced for pro at 0.5, then 0.75 from Sep 11, 12:30 (mid-hour, with events on
//! both sides of it in that hour), and for team at 1.25. Lines are priced by hand (`cost_usd`), by
//! the catalog (gpt-4o-mini, 1000 in + 100 out = 0.00021), or not at all (acme/llm-x, mapped to
//! gpt-4o-mini at the end).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use prost_types::Timestamp;
use rust_decimal::{Decimal, RoundingStrategy};
use tally::pb::{
    self, CustomerAttribution, EventRecord, MapModelRequest, MultiServiceUsage, Plan, ServiceUsage,
    SetSignalPriceRequest, SignalPrice, UpdateCustomerRequest, event_record::Usage,
    reports_client::ReportsClient,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::helpers::{ApiKey, TestApp};

/// Cost of a gpt-4o-mini line of 1000 input and 100 output tokens, in 1e-10 USD.
pub const MINI_E10: i64 = 2_100_000;

/// Sep 1 2026 plus days and hours.
pub fn t(days: i64, hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap()
        + Duration::days(days)
        + Duration::hours(hours)
}

pub fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// A line: provider, model, and its cost: `Some(manual)` in 1e-10 USD, or `None` for the catalog
/// (gpt-4o-mini) or unknown (acme/llm-x).
#[derive(Clone, Debug)]
pub struct Line {
    pub provider: &'static str,
    pub model: &'static str,
    pub manual_e10: Option<i64>,
}

impl Line {
    /// The line's cost now: unknown models are priced only once mapped.
    pub fn cost(&self, mapped: bool) -> Option<i64> {
        match (self.manual_e10, self.model) {
            (Some(cost), _) => Some(cost),
            (None, "llm-x") if !mapped => None,
            (None, _) => Some(MINI_E10),
        }
    }

    pub fn tokens(&self) -> (i64, i64) {
        if self.manual_e10.is_some() {
            (0, 0)
        } else {
            (1_000, 100)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Ev {
    pub customer: &'static str,
    pub agent: &'static str,
    pub signal: &'static str,
    pub user: &'static str,
    pub run: &'static str,
    pub quantity: i64,
    pub at: DateTime<Utc>,
    pub lines: Vec<Line>,
}

fn manual(model: &'static str, e10: i64) -> Line {
    Line {
        provider: "openai",
        model,
        manual_e10: Some(e10),
    }
}

fn mini() -> Line {
    Line {
        provider: "openai",
        model: "gpt-4o-mini",
        manual_e10: None,
    }
}

fn unknown() -> Line {
    Line {
        provider: "acme",
        model: "llm-x",
        manual_e10: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn ev(
    customer: &'static str,
    agent: &'static str,
    signal: &'static str,
    user: &'static str,
    run: &'static str,
    quantity: i64,
    at: DateTime<Utc>,
    lines: Vec<Line>,
) -> Ev {
    Ev {
        customer,
        agent,
        signal,
        user,
        run,
        quantity,
        at,
        lines,
    }
}

/// The events, each customer's first one first (it carries the plan).
#[rustfmt::skip]
pub fn events() -> Vec<Ev> {
    let (half, ten, late) = (Duration::minutes(30), Duration::minutes(10), Duration::minutes(45));
    vec![
        //  customer agent       signal    user  run     qty at                 lines
        ev("beta",  "triage",   "ticket", "",   "",     1, t(-1, 0),          vec![manual("gpt-4o", 1)]),
        ev("beta",  "triage",   "ticket", "u1", "r-b1", 2, t(0, 0),           vec![manual("gpt-4o", 12_345_678_901)]),
        ev("acme",  "support",  "ticket", "u1", "r-a1", 3, t(1, 5),           vec![mini(), manual("gpt-4o", 50_000_000_000)]),
        ev("acme",  "support",  "ticket", "u2", "r-a1", 1, t(1, 6),           vec![unknown()]),
        ev("acme",  "research", "",       "",   "",     1, t(3, 0),           vec![manual("o1", 400_000_000_000)]),
        ev("acme",  "support",  "ticket", "u1", "",     4, t(10, 12) + ten,   vec![mini()]),
        ev("acme",  "support",  "ticket", "u1", "",     2, t(10, 12) + late,  vec![mini()]),
        ev("acme",  "support",  "ticket", "u2", "r-a2", 5, t(16, 3),          vec![mini(), unknown()]),
        ev("acme",  "research", "",       "u2", "r-a3", 1, t(20, 23) + half,  vec![manual("o1", 1_000_000_000_000)]),
        ev("beta",  "triage",   "ticket", "",   "",     7, t(12, 8),          vec![manual("gpt-4o", 3)]),
        ev("beta",  "triage",   "",       "u3", "",     1, t(29, 23),         vec![mini()]),
        ev("delta", "support",  "",       "",   "r-d1", 1, t(5, 0),           vec![manual("gpt-4o", 20_000_000_000)]),
        ev("delta", "support",  "ticket", "",   "r-d1", 9, t(25, 10),         vec![unknown()]),
        // Outside September (and the first beta event, above).
        ev("acme",  "support",  "ticket", "u1", "",     1, t(30, 0),          vec![manual("gpt-4o", 7)]),
        ev("beta",  "triage",   "ticket", "",   "",     2, t(45, 0),          vec![mini()]),
    ]
}

/// Plan periods: customer, plan, monthly fee, start.
pub fn plan_history() -> Vec<(&'static str, &'static str, &'static str, DateTime<Utc>)> {
    vec![
        ("acme", "pro", "99", t(1, 5)),
        ("acme", "team", "300", t(14, 0)),
        ("beta", "basic", "30", t(-1, 0)),
        ("gamma", "pro", "99", t(5, 0)),
    ]
}

/// Signal prices: plan, signal, unit price, effective time.
pub fn signal_prices() -> Vec<(&'static str, &'static str, &'static str, DateTime<Utc>)> {
    vec![
        ("pro", "ticket", "0.5", t(-10, 0)),
        ("pro", "ticket", "0.75", t(10, 12) + Duration::minutes(30)),
        ("team", "ticket", "1.25", t(-10, 0)),
    ]
}

/// The plan in force for a customer at a time ('' for none).
pub fn plan_at(customer: &str, at: DateTime<Utc>) -> &'static str {
    plan_history()
        .into_iter()
        .rfind(|(who, _, _, start)| *who == customer && *start <= at)
        .map_or("", |(_, plan, _, _)| plan)
}

/// The unit price of a signal under a plan at a time.
pub fn price_at(plan: &str, signal: &str, at: DateTime<Utc>) -> Option<Decimal> {
    signal_prices()
        .into_iter()
        .rfind(|(p, s, _, from)| *p == plan && *s == signal && *from <= at)
        .map(|(_, _, price, _)| price.parse().unwrap())
}

/// Plan fees of `[from, to)` per (customer, plan), unrounded: each period prorated over the
/// calendar months it covers.
pub fn plan_fees(from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<(String, String), Decimal> {
    let history = plan_history();
    let mut fees = BTreeMap::new();
    for (index, (customer, plan, monthly, start)) in history.iter().enumerate() {
        let end = history
            .get(index + 1)
            .filter(|next| next.0 == *customer)
            .map_or(to, |next| next.3);
        let (mut a, b) = ((*start).max(from), end.min(to));
        while a < b {
            let month = Utc
                .with_ymd_and_hms(a.year_(), a.month_(), 1, 0, 0, 0)
                .unwrap();
            let next = month + chrono::Months::new(1);
            let stop = b.min(next);
            let share = Decimal::from((stop - a).num_seconds())
                / Decimal::from((next - month).num_seconds());
            *fees
                .entry((customer.to_string(), plan.to_string()))
                .or_insert(Decimal::ZERO) += monthly.parse::<Decimal>().unwrap() * share;
            a = stop;
        }
    }
    fees
}

trait Ym {
    fn year_(&self) -> i32;
    fn month_(&self) -> u32;
}

impl Ym for DateTime<Utc> {
    fn year_(&self) -> i32 {
        chrono::Datelike::year(self)
    }
    fn month_(&self) -> u32 {
        chrono::Datelike::month(self)
    }
}

/// Money as the reports show it: 10 places, half to even.
pub fn money(value: Decimal) -> String {
    format!(
        "{:.10}",
        value.round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven)
    )
}

pub fn e10(value: i64) -> String {
    money(Decimal::new(value, 10))
}

pub fn reports(app: &TestApp) -> ReportsClient<InterceptedService<Channel, ApiKey>> {
    ReportsClient::with_interceptor(app.channel.clone(), ApiKey::bearer(&app.publishable_key))
}

fn record(event: &Ev, with_plan: bool) -> EventRecord {
    let plan = with_plan.then(|| {
        let (_, name, monthly, _) = plan_history()
            .into_iter()
            .find(|(who, ..)| *who == event.customer)
            .unwrap();
        Plan {
            name: name.to_owned(),
            monthly_usd: monthly.to_owned(),
        }
    });
    let services: Vec<ServiceUsage> = event
        .lines
        .iter()
        .map(|line| ServiceUsage {
            provider: line.provider.to_owned(),
            model: line.model.to_owned(),
            cost_usd: line.manual_e10.map(e10).unwrap_or_default(),
            input_tokens: line.manual_e10.is_none().then_some(1_000),
            output_tokens: line.manual_e10.is_none().then_some(100),
            ..Default::default()
        })
        .collect();
    EventRecord {
        customer: Some(CustomerAttribution {
            id: event.customer.to_owned(),
            name: format!("{} Inc.", event.customer),
            plan,
        }),
        agent_code: event.agent.to_owned(),
        signal_name: event.signal.to_owned(),
        user_id: event.user.to_owned(),
        run_id: event.run.to_owned(),
        quantity: Some(event.quantity as u64),
        usage_time: Some(ts(event.at)),
        usage: Some(if services.len() == 1 {
            Usage::Service(services.into_iter().next().unwrap())
        } else {
            Usage::Services(MultiServiceUsage { services })
        }),
        ..Default::default()
    }
}

/// Sends the data set. With `mapped`, maps acme/llm-x to gpt-4o-mini at the end (repricing).
pub async fn load(app: &TestApp, mapped: bool) {
    let mut pricing = app.pricing(&app.secret_key);
    for (plan, signal, price, at) in signal_prices() {
        pricing
            .set_signal_price(SetSignalPriceRequest {
                signal_price: Some(SignalPrice {
                    plan_name: plan.to_owned(),
                    signal_name: signal.to_owned(),
                    unit_price_usd: price.to_owned(),
                    effective_time: Some(ts(at)),
                    create_time: None,
                }),
            })
            .await
            .expect("signal price set");
    }
    let mut seen = Vec::new();
    let records: Vec<EventRecord> = events()
        .iter()
        .map(|event| {
            let first = !seen.contains(&event.customer) && event.customer != "delta";
            seen.push(event.customer);
            record(event, first)
        })
        .collect();
    app.record_all(records).await;
    let mut directory = app.directory(&app.secret_key);
    for (customer, plan, monthly, start, allow_missing) in [
        ("acme", "team", "300", t(14, 0), false),
        ("gamma", "pro", "99", t(5, 0), true),
    ] {
        directory
            .update_customer(UpdateCustomerRequest {
                customer: Some(pb::Customer {
                    customer_id: customer.to_owned(),
                    plan: Some(Plan {
                        name: plan.to_owned(),
                        monthly_usd: monthly.to_owned(),
                    }),
                    ..Default::default()
                }),
                update_mask: None,
                plan_start_time: Some(ts(start)),
                allow_missing,
            })
            .await
            .expect("plan changed");
    }
    if mapped {
        pricing
            .map_model(MapModelRequest {
                from_provider: "acme".into(),
                from_model: "llm-x".into(),
                to_provider: "openai".into(),
                to_model: "gpt-4o-mini".into(),
            })
            .await
            .expect("mapped");
    }
    app.assert_totals_match_events().await;
}
