//! Signal prices through the API: set with history, replaced at the same effective time, listed in
//! order with filters and pages, validated field by field, and written only with a secret key.

use prost_types::Timestamp;
use tally::pb::{self, ListSignalPricesRequest, ListSignalsRequest, SetSignalPriceRequest};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, spawn_app};

fn day(days: i64) -> Timestamp {
    Timestamp {
        seconds: 1_793_491_200 + days * 86_400,
        nanos: 0,
    }
}

fn price(plan: &str, signal: &str, unit: &str, at: Option<Timestamp>) -> SetSignalPriceRequest {
    SetSignalPriceRequest {
        signal_price: Some(pb::SignalPrice {
            plan_name: plan.to_owned(),
            signal_name: signal.to_owned(),
            unit_price_usd: unit.to_owned(),
            effective_time: at,
            create_time: None,
        }),
    }
}

async fn set(app: &TestApp, request: SetSignalPriceRequest) -> pb::SignalPrice {
    app.pricing(&app.secret_key)
        .set_signal_price(request)
        .await
        .expect("price set")
        .into_inner()
        .signal_price
        .expect("price")
}

async fn list(
    app: &TestApp,
    request: ListSignalPricesRequest,
) -> Vec<(String, String, String, i64)> {
    let mut request = request;
    let mut rows = Vec::new();
    loop {
        let page = app
            .pricing(&app.publishable_key)
            .list_signal_prices(request.clone())
            .await
            .expect("list")
            .into_inner();
        rows.extend(page.signal_prices.into_iter().map(|p| {
            (
                p.plan_name,
                p.signal_name,
                p.unit_price_usd,
                p.effective_time
                    .map_or(-1, |t| (t.seconds - 1_793_491_200) / 86_400),
            )
        }));
        if page.next_page_token.is_empty() {
            return rows;
        }
        request.page_token = page.next_page_token;
    }
}

async fn signal_prices_keep_history_and_list_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = set(&app, price("pro", "messages", "0.0100", Some(day(1)))).await;
    assert_eq!(stored.unit_price_usd, "0.01");
    assert_eq!(stored.effective_time, Some(day(1)));
    assert!(stored.create_time.is_some());
    set(&app, price("pro", "messages", "0.02", Some(day(10)))).await;
    set(&app, price("free", "messages", "0.05", Some(day(1)))).await;
    set(
        &app,
        price("pro", "report-pages", "0.000000000000000001", Some(day(1))),
    )
    .await;
    // The same plan, signal and effective time replaces the price.
    set(&app, price("free", "messages", "0.04", Some(day(1)))).await;
    let now = set(&app, price("team", "messages", "1", None)).await;
    assert!(now.effective_time.is_some(), "unset means now");

    let everything = list(
        &app,
        ListSignalPricesRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    let without_now: Vec<_> = everything
        .iter()
        .filter(|row| row.0 != "team")
        .cloned()
        .collect();
    assert_eq!(
        without_now,
        [
            ("free".into(), "messages".into(), "0.04".into(), 1),
            ("pro".into(), "messages".into(), "0.01".into(), 1),
            ("pro".into(), "messages".into(), "0.02".into(), 10),
            (
                "pro".into(),
                "report-pages".into(),
                "0.000000000000000001".into(),
                1
            ),
        ]
    );
    assert_eq!(everything.len(), 5);
    let messages_of_pro = list(
        &app,
        ListSignalPricesRequest {
            plan_name: "pro".to_owned(),
            signal_name: "messages".to_owned(),
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(messages_of_pro.len(), 2, "the history is kept");

    // An unknown signal is created, as an event naming it would.
    let signals = app
        .directory(&app.publishable_key)
        .list_signals(ListSignalsRequest::default())
        .await
        .expect("signals")
        .into_inner()
        .signals;
    let names: Vec<&str> = signals.iter().map(|s| s.signal_name.as_str()).collect();
    assert_eq!(names, ["messages", "report-pages"]);
    assert_eq!(signals[0].event_count, 0);
}

async fn signal_prices_are_validated_and_written_with_a_secret_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = app
        .pricing(&app.secret_key)
        .set_signal_price(price(" ", "", "-0.5", None))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .expect("field violations")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "signal_price.plan_name",
            "signal_price.signal_name",
            "signal_price.unit_price_usd"
        ]
    );
    for bad in ["", "0.1234567890123456789", "1e-3", "abc"] {
        let status = app
            .pricing(&app.secret_key)
            .set_signal_price(price("pro", "messages", bad, None))
            .await
            .expect_err(bad);
        let details = status.get_error_details();
        let violations = &details.bad_request().expect("violations").field_violations;
        assert_eq!(violations[0].field, "signal_price.unit_price_usd", "{bad}");
    }
    let missing = app
        .pricing(&app.secret_key)
        .set_signal_price(SetSignalPriceRequest { signal_price: None })
        .await
        .expect_err("no price");
    assert_eq!(missing.code(), Code::InvalidArgument);

    let denied = app
        .pricing(&app.publishable_key)
        .set_signal_price(price("pro", "messages", "0.1", None))
        .await
        .expect_err("publishable");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        list(&app, ListSignalPricesRequest::default())
            .await
            .is_empty()
    );
    let token = app
        .pricing(&app.publishable_key)
        .list_signal_prices(ListSignalPricesRequest {
            page_token: "garbage".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(token.code(), Code::InvalidArgument);
}

crate::on_both_databases!(
    signal_prices_keep_history_and_list_in_order,
    signal_prices_are_validated_and_written_with_a_secret_key,
);
