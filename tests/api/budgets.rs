//! Budget management through the API: create, read back, update with and without a mask, delete, list
//! with filters and pages, every violation listed, and one project never seeing another's budgets.

use std::collections::HashSet;

use prost_types::FieldMask;
use tally::pb::{
    self, CreateBudgetRequest, DeleteBudgetRequest, ListBudgetsRequest, UpdateBudgetRequest,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{ApiKey, Backend, create_key, spawn_app};

fn scope(
    kind: pb::BudgetScopeKind,
    customer_id: &str,
    agent_code: &str,
) -> Option<pb::BudgetScope> {
    Some(pb::BudgetScope {
        kind: kind as i32,
        customer_id: customer_id.to_owned(),
        agent_code: agent_code.to_owned(),
    })
}

fn budget(name: &str, scope: Option<pb::BudgetScope>, monthly: &str, per_run: &str) -> pb::Budget {
    pb::Budget {
        name: name.to_owned(),
        scope,
        monthly_limit_usd: monthly.to_owned(),
        per_run_limit_usd: per_run.to_owned(),
        enforcement: pb::BudgetEnforcement::Block as i32,
        ..Default::default()
    }
}

async fn budgets_of_every_scope_are_created_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.budgets(&app.secret_key);
    let wanted = [
        budget(
            "project",
            scope(pb::BudgetScopeKind::Project, "", ""),
            "1000",
            "",
        ),
        budget(
            "customer",
            scope(pb::BudgetScopeKind::Customer, "workspace_42", ""),
            "99.5",
            "",
        ),
        budget(
            "agent",
            scope(pb::BudgetScopeKind::Agent, "", "support_reply"),
            "",
            "0.50",
        ),
        budget(
            "customer agent",
            scope(
                pb::BudgetScopeKind::CustomerAgent,
                "workspace_42",
                "support_reply",
            ),
            "12.3456789012",
            "0.0000000001",
        ),
    ];
    let mut created = Vec::new();
    for budget in wanted.clone() {
        let response = client
            .create_budget(CreateBudgetRequest {
                budget: Some(budget),
            })
            .await
            .expect("created");
        created.push(response.into_inner().budget.expect("budget returned"));
    }
    for (made, asked) in created.iter().zip(&wanted) {
        assert!(!made.budget_id.is_empty());
        assert_eq!(made.name, asked.name);
        assert_eq!(made.scope, asked.scope);
        assert!(made.create_time.is_some() && made.update_time.is_some());
    }
    // Limits come back exact, with 10 decimal places.
    assert_eq!(created[0].monthly_limit_usd, "1000.0000000000");
    assert_eq!(created[1].monthly_limit_usd, "99.5000000000");
    assert_eq!(created[2].monthly_limit_usd, "");
    assert_eq!(created[2].per_run_limit_usd, "0.5000000000");
    assert_eq!(created[3].monthly_limit_usd, "12.3456789012");
    assert_eq!(created[3].per_run_limit_usd, "0.0000000001");

    let all = client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    // Listed with the month's spend and holds where there is a monthly limit (none yet).
    let month: Vec<(&str, &str)> = all
        .budgets
        .iter()
        .map(|b| (b.month_spent_usd.as_str(), b.month_held_usd.as_str()))
        .collect();
    let zero = ("0.0000000000", "0.0000000000");
    assert_eq!(month, [zero, zero, ("", ""), zero]);
    let all = pb::ListBudgetsResponse {
        budgets: all.budgets.into_iter().map(without_month).collect(),
        ..all
    };
    assert_eq!(all.budgets, created, "listed oldest first, as created");
    assert!(all.next_page_token.is_empty());

    let for_customer = client
        .list_budgets(ListBudgetsRequest {
            customer_id: "workspace_42".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        for_customer
            .budgets
            .into_iter()
            .map(without_month)
            .collect::<Vec<_>>(),
        vec![created[1].clone(), created[3].clone()]
    );
    let of_agents = client
        .list_budgets(ListBudgetsRequest {
            scope_kind: pb::BudgetScopeKind::Agent as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(of_agents.budgets, vec![created[2].clone()]);
}

/// A listed budget without the month's figures that only `ListBudgets` sets.
fn without_month(budget: pb::Budget) -> pb::Budget {
    pb::Budget {
        month_spent_usd: String::new(),
        month_held_usd: String::new(),
        ..budget
    }
}

async fn every_violation_of_a_budget_is_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.budgets(&app.secret_key);
    let bad = pb::Budget {
        name: " ".to_owned(),
        scope: scope(pb::BudgetScopeKind::Customer, "", "support_reply"),
        monthly_limit_usd: "1e3".to_owned(),
        per_run_limit_usd: "-1".to_owned(),
        enforcement: pb::BudgetEnforcement::Unspecified as i32,
        ..Default::default()
    };
    let status = client
        .create_budget(CreateBudgetRequest { budget: Some(bad) })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    let fields: HashSet<String> = details
        .bad_request()
        .expect("field violations")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    let expected: HashSet<String> = [
        "budget.name",
        "budget.scope.customer_id",
        "budget.scope.agent_code",
        "budget.monthly_limit_usd",
        "budget.per_run_limit_usd",
        "budget.enforcement",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(fields, expected, "{status:?}");
    assert_eq!(details.error_info().expect("error info").domain, "tally");

    let no_limit = budget("none", scope(pb::BudgetScopeKind::Project, "", ""), "", "");
    let status = client
        .create_budget(CreateBudgetRequest {
            budget: Some(no_limit),
        })
        .await
        .expect_err("no limit");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("at least one"), "{status:?}");

    let long_name = budget(
        &"n".repeat(257),
        scope(pb::BudgetScopeKind::Project, "", ""),
        "1",
        "",
    );
    let status = client
        .create_budget(CreateBudgetRequest {
            budget: Some(long_name),
        })
        .await
        .expect_err("long");
    assert!(status.message().contains("256"), "{status:?}");

    let listed = client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.budgets.is_empty(), "nothing invalid was stored");
}

async fn budgets_are_updated_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.budgets(&app.secret_key);
    let created = client
        .create_budget(CreateBudgetRequest {
            budget: Some(budget(
                "agent",
                scope(pb::BudgetScopeKind::Agent, "", "cs-bot-v2"),
                "100",
                "1",
            )),
        })
        .await
        .expect("created")
        .into_inner()
        .budget
        .expect("budget");

    // No mask: the fields set to a value change, the others stay.
    let changed = client
        .update_budget(UpdateBudgetRequest {
            budget: Some(pb::Budget {
                budget_id: created.budget_id.clone(),
                monthly_limit_usd: "250.25".to_owned(),
                enforcement: pb::BudgetEnforcement::Alert as i32,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("updated")
        .into_inner()
        .budget
        .expect("budget");
    assert_eq!(changed.monthly_limit_usd, "250.2500000000");
    assert_eq!(changed.per_run_limit_usd, "1.0000000000");
    assert_eq!(changed.enforcement, pb::BudgetEnforcement::Alert as i32);
    assert_eq!(changed.name, "agent");
    assert_eq!(changed.scope, created.scope, "the scope is fixed");
    let seconds = |budget: &pb::Budget| budget.update_time.as_ref().map(|t| (t.seconds, t.nanos));
    assert!(
        seconds(&changed) >= seconds(&created),
        "update time moves forward"
    );

    // A mask names what changes; an empty value under a mask clears a limit.
    let clear = |path: &str| UpdateBudgetRequest {
        budget: Some(pb::Budget {
            budget_id: created.budget_id.clone(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec![path.to_owned()],
        }),
    };
    let cleared = client
        .update_budget(clear("per_run_limit_usd"))
        .await
        .expect("cleared")
        .into_inner()
        .budget
        .expect("budget");
    assert_eq!(cleared.per_run_limit_usd, "");
    assert_eq!(cleared.monthly_limit_usd, "250.2500000000");

    // Clearing the last limit, or naming a field that cannot change, is refused.
    let status = client
        .update_budget(clear("monthly_limit_usd"))
        .await
        .expect_err("no limit left");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .update_budget(clear("scope"))
        .await
        .expect_err("scope is fixed");
    assert_eq!(status.code(), Code::InvalidArgument);

    let unknown = uuid::Uuid::now_v7().to_string();
    let status = client
        .update_budget(UpdateBudgetRequest {
            budget: Some(pb::Budget {
                budget_id: unknown.clone(),
                name: "x".to_owned(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect_err("unknown budget");
    assert_eq!(status.code(), Code::NotFound);

    client
        .delete_budget(DeleteBudgetRequest {
            budget_id: created.budget_id.clone(),
        })
        .await
        .expect("deleted");
    let status = client
        .delete_budget(DeleteBudgetRequest {
            budget_id: created.budget_id.clone(),
        })
        .await
        .expect_err("already deleted");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .delete_budget(DeleteBudgetRequest {
            budget_id: "nope".to_owned(),
        })
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
    let listed = client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.budgets.is_empty());
}

async fn budgets_are_listed_in_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.budgets(&app.secret_key);
    let mut ids = Vec::new();
    for n in 0..5 {
        let made = client
            .create_budget(CreateBudgetRequest {
                budget: Some(budget(
                    &format!("b{n}"),
                    scope(pb::BudgetScopeKind::Project, "", ""),
                    "1",
                    "",
                )),
            })
            .await
            .expect("created");
        ids.push(made.into_inner().budget.expect("budget").budget_id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_budgets(ListBudgetsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.budgets.len() <= 2);
        seen.extend(page.budgets.into_iter().map(|b| b.budget_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids, "every budget once, in order");

    let first = client
        .list_budgets(ListBudgetsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let status = client
        .list_budgets(ListBudgetsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            scope_kind: pb::BudgetScopeKind::Agent as i32,
            ..Default::default()
        })
        .await
        .expect_err("a token is bound to its filters");
    assert_eq!(status.code(), Code::InvalidArgument);
}

async fn a_project_never_sees_another_projects_budgets(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.database.connect().await;
    let other_key = create_key(&db, "other", tally::domain::api_key::ApiKeyKind::Secret).await;
    let mut ours = app.budgets(&app.secret_key);
    let mut theirs = app.budgets(&other_key);

    let budget_id = ours
        .create_budget(CreateBudgetRequest {
            budget: Some(budget(
                "ours",
                scope(pb::BudgetScopeKind::Customer, "acme", ""),
                "10",
                "",
            )),
        })
        .await
        .expect("created")
        .into_inner()
        .budget
        .expect("budget")
        .budget_id;

    let listed = theirs
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed.budgets.is_empty(),
        "another project's budgets are invisible"
    );
    let status = theirs
        .update_budget(UpdateBudgetRequest {
            budget: Some(pb::Budget {
                budget_id: budget_id.clone(),
                name: "stolen".to_owned(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect_err("cannot change it");
    assert_eq!(status.code(), Code::NotFound);
    let status = theirs
        .delete_budget(DeleteBudgetRequest {
            budget_id: budget_id.clone(),
        })
        .await
        .expect_err("cannot delete it");
    assert_eq!(status.code(), Code::NotFound);

    let mut reader = tally::pb::budgets_client::BudgetsClient::with_interceptor(
        app.channel.clone(),
        ApiKey::x_api_key(&app.publishable_key),
    );
    let still = reader
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(still.budgets.len(), 1);
    assert_eq!(
        still.budgets[0].name, "ours",
        "untouched by the other project"
    );
}

crate::on_both_databases!(
    budgets_of_every_scope_are_created_and_listed,
    every_violation_of_a_budget_is_listed,
    budgets_are_updated_and_deleted,
    budgets_are_listed_in_pages,
    a_project_never_sees_another_projects_budgets,
);
