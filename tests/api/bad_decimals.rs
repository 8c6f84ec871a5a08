//! Decimal strings through the API: one plain spelling per amount (digits with an optional
//! fraction; no sign, blanks or leading zeros, as the contract states) in every money field of
//! every method, refused as a violation of that field, and nothing stored from a refused record.

use prost_types::FieldMask;
use tally::pb::{
    self, CheckBudgetRequest, CreateBudgetRequest, ListBudgetsRequest, ListRiskyAccountsRequest,
    Outcome, Plan, RecordOutcomeRequest, SetPriceRequest, SetSignalPriceRequest, SignalPrice,
    UpdateCustomerRequest,
};

use crate::{
    bad_input::{invalid, one_day_window, refused_for, start_run, with_manual_cost, with_plan},
    helpers::{Backend, spawn_app},
};

/// Spellings the contract's plain notation does not allow, each of a value it does allow.
const BAD_SPELLINGS: [&str; 7] = [" 0.5 ", "00.5", "-0", " 1", "+1", "01", "0.5\n"];

async fn decimal_strings_take_one_plain_spelling(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut budgets = app.budgets(&app.secret_key);
    let mut runs = app.runs(&app.secret_key);
    let mut pricing = app.pricing(&app.secret_key);
    let mut directory = app.directory(&app.secret_key);
    let mut reports = app.reports(&app.secret_key);

    // The plain spellings work: a manual cost is the line's cost as given.
    let plain = app.record_one(with_manual_cost("plain-cost", "0.5")).await;
    assert_eq!(plain.total_cost_usd, "0.5000000000", "{plain:?}");
    let zero = app.record_one(with_manual_cost("zero-cost", "0")).await;
    assert_eq!(zero.total_cost_usd, "0.0000000000", "{zero:?}");
    assert!(
        app.record_one(with_plan("plain-plan", "99.00"))
            .await
            .stored
    );
    start_run(&app, "run-1").await;

    for (index, text) in BAD_SPELLINGS.into_iter().enumerate() {
        let case = format!("{text:?}");
        let result = app
            .record_one(with_manual_cost(&format!("cost-{index}"), text))
            .await;
        refused_for(&result, "service.cost_usd", &case);
        let result = app
            .record_one(with_plan(&format!("plan-{index}"), text))
            .await;
        refused_for(&result, "customer.plan.monthly_usd", &case);

        let update = UpdateCustomerRequest {
            customer: Some(pb::Customer {
                customer_id: "workspace_42".to_owned(),
                plan: Some(Plan {
                    name: "pro".to_owned(),
                    monthly_usd: text.to_owned(),
                }),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["plan".to_owned()],
            }),
            ..Default::default()
        };
        invalid(
            directory.update_customer(update).await,
            "customer.plan.monthly_usd",
            &case,
        );

        for (monthly, per_run, field) in [
            (text, "", "budget.monthly_limit_usd"),
            ("", text, "budget.per_run_limit_usd"),
        ] {
            let budget = pb::Budget {
                name: "cap".to_owned(),
                scope: Some(pb::BudgetScope {
                    kind: pb::BudgetScopeKind::Project as i32,
                    ..Default::default()
                }),
                monthly_limit_usd: monthly.to_owned(),
                per_run_limit_usd: per_run.to_owned(),
                enforcement: pb::BudgetEnforcement::Block as i32,
                ..Default::default()
            };
            invalid(
                budgets
                    .create_budget(CreateBudgetRequest {
                        budget: Some(budget),
                    })
                    .await,
                field,
                &case,
            );
        }
        invalid(
            budgets
                .check_budget(CheckBudgetRequest {
                    run_id: "run-1".to_owned(),
                    estimated_cost_usd: text.to_owned(),
                    ..Default::default()
                })
                .await,
            "estimated_cost_usd",
            &case,
        );
        invalid(
            runs.record_outcome(RecordOutcomeRequest {
                run_id: "run-1".to_owned(),
                outcome: Some(Outcome {
                    name: "lead_qualified".to_owned(),
                    value: text.to_owned(),
                    value_kind: pb::OutcomeValueKind::Usd as i32,
                    ..Default::default()
                }),
            })
            .await,
            "outcome.value",
            &case,
        );
        invalid(
            pricing
                .set_price(SetPriceRequest {
                    price: Some(pb::Price {
                        provider: "acme".to_owned(),
                        model: "acme-1".to_owned(),
                        dimension: pb::CostDimension::Input as i32,
                        unit_price_usd: text.to_owned(),
                        ..Default::default()
                    }),
                })
                .await,
            "price.unit_price_usd",
            &case,
        );
        invalid(
            pricing
                .set_signal_price(SetSignalPriceRequest {
                    signal_price: Some(SignalPrice {
                        plan_name: "pro".to_owned(),
                        signal_name: "messages".to_owned(),
                        unit_price_usd: text.to_owned(),
                        ..Default::default()
                    }),
                })
                .await,
            "signal_price.unit_price_usd",
            &case,
        );
        let (start_time, end_time) = one_day_window();
        invalid(
            reports
                .list_risky_accounts(ListRiskyAccountsRequest {
                    start_time,
                    end_time,
                    cost_share_threshold_percent: text.to_owned(),
                    ..Default::default()
                })
                .await,
            "cost_share_threshold_percent",
            &case,
        );
    }
    assert_eq!(
        app.count_events().await,
        3,
        "only the plain spellings stored"
    );
    let listed = budgets
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("budgets")
        .into_inner();
    assert!(listed.budgets.is_empty(), "{listed:?}");
}

crate::on_both_databases!(decimal_strings_take_one_plain_spelling);
