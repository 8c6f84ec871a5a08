//! The Directory through the API: customers read, filtered and paged; names and plans changed; a
//! plan started in the past moving the events and runs of its span; agents and signals counted.

use std::collections::BTreeMap;

use prost_types::{FieldMask, Timestamp};
use tally::pb::{
    self, EventRecord, GetCustomerRequest, ListAgentsRequest, ListCustomersRequest,
    ListSignalsRequest, Plan, UpdateCustomerRequest,
};
use tonic::Code;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, scalar, spawn_app, violated_fields},
};

/// 2026-11-01 plus `days` days (and `hours` hours).
fn day(days: i64, hours: i64) -> Timestamp {
    Timestamp {
        seconds: 1_793_491_200 + days * 86_400 + hours * 3_600,
        nanos: 0,
    }
}

/// A name, two counts, and first and last seen.
type Activity = (String, u64, u64, Option<Timestamp>, Option<Timestamp>);

fn plan(name: &str, monthly: &str) -> Option<Plan> {
    Some(Plan {
        name: name.to_owned(),
        monthly_usd: monthly.to_owned(),
    })
}

struct Rec<'a> {
    customer: &'a str,
    name: &'a str,
    plan: Option<Plan>,
    agent: &'a str,
    signal: &'a str,
    quantity: u64,
    run: &'a str,
    at: Timestamp,
}

impl Default for Rec<'_> {
    fn default() -> Self {
        Self {
            customer: "cust-01",
            name: "",
            plan: None,
            agent: "support_reply",
            signal: "",
            quantity: 1,
            run: "",
            at: day(1, 0),
        }
    }
}

/// A gpt-4o-mini call of 1000 input and 100 output tokens, attributed as `rec` says.
fn record(rec: Rec<'_>) -> EventRecord {
    EventRecordBuilder::new()
        .customer(rec.customer)
        .customer_name(rec.name)
        .plan(rec.plan)
        .agent(rec.agent)
        .signal(rec.signal, rec.quantity)
        .run(rec.run)
        .at(rec.at)
        .build()
}

async fn get(app: &TestApp, customer_id: &str) -> pb::Customer {
    app.directory(&app.publishable_key)
        .get_customer(GetCustomerRequest {
            customer_id: customer_id.to_owned(),
        })
        .await
        .expect("customer found")
        .into_inner()
        .customer
        .expect("customer")
}

async fn update(
    app: &TestApp,
    request: UpdateCustomerRequest,
) -> Result<pb::Customer, tonic::Status> {
    app.directory(&app.secret_key)
        .update_customer(request)
        .await
        .map(|response| response.into_inner().customer.expect("customer"))
}

fn customer_update(customer: pb::Customer, paths: &[&str]) -> UpdateCustomerRequest {
    UpdateCustomerRequest {
        customer: Some(customer),
        update_mask: (!paths.is_empty()).then(|| FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        }),
        ..Default::default()
    }
}

async fn list_all(app: &TestApp, request: ListCustomersRequest) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut request = request;
    loop {
        let page = app
            .directory(&app.publishable_key)
            .list_customers(request.clone())
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        ids.extend(page.customers.into_iter().map(|c| c.customer_id));
        if page.next_page_token.is_empty() {
            return (ids, pages);
        }
        request.page_token = page.next_page_token;
    }
}

async fn customers_are_read_filtered_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut records = Vec::new();
    let names = [
        "Northstar Agency",
        "northwind",
        "Acme",
        "Nordic Oy",
        "Zeta",
        "Beta",
        "Gamma",
    ];
    for (index, name) in names.iter().enumerate() {
        let id = format!("cust-{:02}", index + 1);
        records.push(record(Rec {
            customer: &id,
            name,
            plan: plan(if index % 2 == 0 { "pro" } else { "free" }, "10"),
            at: day(index as i64, 0),
            ..Rec::default()
        }));
    }
    // A later event of cust-03 widens its activity.
    records.push(record(Rec {
        customer: "cust-03",
        at: day(15, 3),
        ..Rec::default()
    }));
    app.record_all(records).await;

    let acme = get(&app, "cust-03").await;
    assert_eq!(acme.display_name, "Acme");
    assert_eq!(acme.plan.as_ref().map(|p| p.name.as_str()), Some("pro"));
    assert_eq!(acme.first_seen_time, Some(day(2, 0)));
    assert_eq!(
        acme.last_seen_time,
        Some(day(15, 3)),
        "from the events, not the row"
    );
    assert!(acme.create_time.is_some());

    let missing = app
        .directory(&app.publishable_key)
        .get_customer(GetCustomerRequest {
            customer_id: "nobody".to_owned(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);

    let (all, pages) = list_all(
        &app,
        ListCustomersRequest {
            page_size: 3,
            ..Default::default()
        },
    )
    .await;
    let expected: Vec<String> = (1..=7).map(|i| format!("cust-{i:02}")).collect();
    assert_eq!(all, expected, "every customer once, in id order");
    assert_eq!(pages, 3);

    // Alias "North Pole Co" on cust-05 (Zeta) makes it match "north" too.
    update(
        &app,
        customer_update(
            pb::Customer {
                customer_id: "cust-05".to_owned(),
                aliases: vec!["North Pole Co".to_owned()],
                ..Default::default()
            },
            &[],
        ),
    )
    .await
    .expect("aliases set");
    let (north, pages) = list_all(
        &app,
        ListCustomersRequest {
            page_size: 1,
            name_prefix: "NORTH".to_owned(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(north, ["cust-01", "cust-02", "cust-05"]);
    assert_eq!(pages, 3);
    let (pro, _) = list_all(
        &app,
        ListCustomersRequest {
            plan_name: "pro".to_owned(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(pro, ["cust-01", "cust-03", "cust-05", "cust-07"]);
    let (both, _) = list_all(
        &app,
        ListCustomersRequest {
            plan_name: "pro".to_owned(),
            name_prefix: "no".to_owned(),
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(both, ["cust-01", "cust-05"]);

    let first = app
        .directory(&app.publishable_key)
        .list_customers(ListCustomersRequest {
            page_size: 1,
            plan_name: "pro".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let reused = app
        .directory(&app.publishable_key)
        .list_customers(ListCustomersRequest {
            page_size: 1,
            plan_name: "free".to_owned(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect_err("a token of other filters");
    assert_eq!(reused.code(), Code::InvalidArgument);
}

async fn updates_change_names_and_need_a_secret_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.record_all(vec![record(Rec {
        name: "Old Name",
        ..Rec::default()
    })])
    .await;
    let denied = app
        .directory(&app.publishable_key)
        .update_customer(customer_update(
            pb::Customer {
                customer_id: "cust-01".to_owned(),
                display_name: "New".to_owned(),
                ..Default::default()
            },
            &[],
        ))
        .await
        .expect_err("publishable keys cannot write");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(get(&app, "cust-01").await.display_name, "Old Name");

    // Without a mask: the non-empty fields change, the aliases stay.
    let first = customer_update(
        pb::Customer {
            customer_id: "cust-01".to_owned(),
            aliases: vec!["Old Co".to_owned(), "OC".to_owned()],
            ..Default::default()
        },
        &[],
    );
    update(&app, first).await.expect("aliases");
    let renamed = update(
        &app,
        customer_update(
            pb::Customer {
                customer_id: "cust-01".to_owned(),
                display_name: "  New Name ".to_owned(),
                ..Default::default()
            },
            &[],
        ),
    )
    .await
    .expect("renamed");
    assert_eq!(renamed.display_name, "New Name");
    assert_eq!(renamed.aliases, ["Old Co", "OC"], "not in the implied mask");
    // With a mask: the aliases are replaced by an empty list, the name is kept.
    let masked = update(
        &app,
        customer_update(
            pb::Customer {
                customer_id: "cust-01".to_owned(),
                display_name: "Ignored".to_owned(),
                ..Default::default()
            },
            &["aliases"],
        ),
    )
    .await
    .expect("aliases cleared");
    assert_eq!(masked.display_name, "New Name");
    assert!(masked.aliases.is_empty());
    assert_eq!(
        get(&app, "cust-01").await,
        masked,
        "what is returned is what is stored"
    );

    let unknown = update(
        &app,
        customer_update(
            pb::Customer {
                customer_id: "cust-new".to_owned(),
                display_name: "Fresh".to_owned(),
                ..Default::default()
            },
            &[],
        ),
    )
    .await
    .expect_err("unknown without allow_missing");
    assert_eq!(unknown.code(), Code::NotFound);
    let created = update(
        &app,
        UpdateCustomerRequest {
            allow_missing: true,
            ..customer_update(
                pb::Customer {
                    customer_id: "cust-new".to_owned(),
                    display_name: "Fresh".to_owned(),
                    plan: plan("pro", "49.5"),
                    ..Default::default()
                },
                &[],
            )
        },
    )
    .await
    .expect("created");
    assert_eq!(created.display_name, "Fresh");
    let pro = created.plan.expect("plan from now");
    assert_eq!(
        (pro.name.as_str(), pro.monthly_usd.as_str()),
        ("pro", "49.5000000000")
    );
    assert_eq!(created.plan_history.len(), 1);
    assert!(created.first_seen_time.is_none(), "no events or runs yet");

    let invalid = update(
        &app,
        customer_update(
            pb::Customer {
                customer_id: "x".repeat(257),
                display_name: "y".repeat(257),
                aliases: (0..21).map(|i| format!("alias {i}")).collect(),
                plan: plan("", "-1"),
                ..Default::default()
            },
            &["display_name", "aliases", "plan", "create_time"],
        ),
    )
    .await
    .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&invalid);
    fields.sort();
    assert_eq!(
        fields,
        [
            "customer.aliases",
            "customer.customer_id",
            "customer.display_name",
            "customer.plan.monthly_usd",
            "customer.plan.name",
            "update_mask",
        ]
    );
}

async fn a_plan_from_a_past_time_moves_the_events_of_its_span(backend: Backend) {
    let app = spawn_app(backend).await;
    let results = app
        .record_all(vec![
            record(Rec {
                plan: plan("pro", "99"),
                run: "run-1",
                at: day(1, 0),
                ..Rec::default()
            }),
            record(Rec {
                run: "run-5",
                at: day(5, 0),
                ..Rec::default()
            }),
            record(Rec {
                run: "run-12",
                at: day(12, 0),
                ..Rec::default()
            }),
            record(Rec {
                at: day(14, 2),
                ..Rec::default()
            }),
            record(Rec {
                plan: plan("team", "299"),
                at: day(20, 0),
                ..Rec::default()
            }),
        ])
        .await;
    let before = app.assert_plan_totals_match_events().await;
    assert_eq!(before.get("pro"), Some(&(4, 3)), "{before:?}");
    assert_eq!(before.get("team"), Some(&(1, 0)), "{before:?}");

    // From day 10 (mid-month) until the team period of day 20.
    let changed = update(
        &app,
        UpdateCustomerRequest {
            plan_start_time: Some(day(10, 0)),
            ..customer_update(
                pb::Customer {
                    customer_id: "cust-01".to_owned(),
                    plan: plan("scale", "500"),
                    ..Default::default()
                },
                &["plan"],
            )
        },
    )
    .await
    .expect("plan changed");
    let history: Vec<(String, String, Option<Timestamp>, Option<Timestamp>)> = changed
        .plan_history
        .iter()
        .map(|p| {
            (
                p.plan_name.clone(),
                p.monthly_usd.clone(),
                p.start_time,
                p.end_time,
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (
                "pro".into(),
                "99.0000000000".into(),
                Some(day(1, 0)),
                Some(day(10, 0))
            ),
            (
                "scale".into(),
                "500.0000000000".into(),
                Some(day(10, 0)),
                Some(day(20, 0))
            ),
            (
                "team".into(),
                "299.0000000000".into(),
                Some(day(20, 0)),
                None
            ),
        ]
    );
    assert_eq!(
        changed.plan.map(|p| p.name),
        Some("team".to_owned()),
        "in force now"
    );

    let mut plans = Vec::new();
    for result in &results {
        let event = app.event(&result.event_id).await;
        plans.push(
            event
                .customer
                .and_then(|c| c.plan)
                .map(|p| p.name)
                .unwrap_or_default(),
        );
    }
    assert_eq!(plans, ["pro", "pro", "scale", "scale", "team"]);
    let after = app.assert_plan_totals_match_events().await;
    let expected = BTreeMap::from([
        ("pro".to_owned(), (2, 2)),
        ("scale".to_owned(), (2, 1)),
        ("team".to_owned(), (1, 0)),
    ]);
    assert_eq!(
        after, expected,
        "events and started runs moved with the plan"
    );
    app.assert_totals_match_events().await;

    // The same plan again changes nothing.
    let again = update(
        &app,
        UpdateCustomerRequest {
            plan_start_time: Some(day(11, 0)),
            ..customer_update(
                pb::Customer {
                    customer_id: "cust-01".to_owned(),
                    plan: plan("scale", "500"),
                    ..Default::default()
                },
                &["plan"],
            )
        },
    )
    .await
    .expect("no change");
    assert_eq!(again.plan_history.len(), 3);
    assert_eq!(app.assert_plan_totals_match_events().await, expected);
}

async fn agents_and_signals_count_what_was_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut records = Vec::new();
    for (index, (agent, signal, quantity)) in [
        ("support_reply", "messages", 3),
        ("support_reply", "messages", 4),
        ("support_reply", "", 1),
        ("cs-bot-v2", "report-pages", 10),
    ]
    .into_iter()
    .enumerate()
    {
        records.push(record(Rec {
            agent,
            signal,
            quantity,
            run: if index < 2 { "run-a" } else { "" },
            at: day(3, index as i64),
            ..Rec::default()
        }));
    }
    app.record_all(records).await;
    let agents = app
        .directory(&app.publishable_key)
        .list_agents(ListAgentsRequest::default())
        .await
        .expect("agents")
        .into_inner();
    let summary: Vec<Activity> = agents
        .agents
        .iter()
        .map(|a| {
            (
                a.agent_code.clone(),
                a.event_count,
                a.run_count,
                a.first_seen_time,
                a.last_seen_time,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cs-bot-v2".into(), 1, 0, Some(day(3, 3)), Some(day(3, 3))),
            (
                "support_reply".into(),
                3,
                1,
                Some(day(3, 0)),
                Some(day(3, 2))
            ),
        ]
    );
    let first = app
        .directory(&app.publishable_key)
        .list_signals(ListSignalsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("signals")
        .into_inner();
    assert_eq!(first.signals.len(), 1);
    let second = app
        .directory(&app.publishable_key)
        .list_signals(ListSignalsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
        })
        .await
        .expect("signals")
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let summary: Vec<(String, u64, u64, Option<Timestamp>)> = first
        .signals
        .iter()
        .chain(&second.signals)
        .map(|s| {
            (
                s.signal_name.clone(),
                s.event_count,
                s.total_quantity,
                s.last_seen_time,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("messages".into(), 2, 7, Some(day(3, 1))),
            ("report-pages".into(), 1, 10, Some(day(3, 3))),
        ]
    );
}

/// Records with the customer's plan that arrive earlier than every period so far move the plan's
/// start back; the history shows one period, not one per such record.
async fn a_plan_repeated_by_earlier_records_is_one_period(backend: Backend) {
    let app = spawn_app(backend).await;
    for days in [5, 3, 1] {
        app.record_all(vec![record(Rec {
            plan: plan("pro", "99"),
            at: day(days, 0),
            ..Default::default()
        })])
        .await;
    }
    let history: Vec<(String, Option<Timestamp>)> = get(&app, "cust-01")
        .await
        .plan_history
        .into_iter()
        .map(|period| (period.plan_name, period.start_time))
        .collect();
    assert_eq!(history, [("pro".to_owned(), Some(day(1, 0)))]);
    // Stored as one period too, so that reports read one row, not one per such record.
    let db = app.database.connect().await;
    let stored = scalar(
        &db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customer_plan_periods",
    )
    .await;
    assert_eq!(stored, 1);
}

crate::on_both_databases!(
    a_plan_repeated_by_earlier_records_is_one_period,
    customers_are_read_filtered_and_paged,
    updates_change_names_and_need_a_secret_key,
    a_plan_from_a_past_time_moves_the_events_of_its_span,
    agents_and_signals_count_what_was_recorded,
);
