//! Authentication: no key, a malformed, unknown or revoked key is `UNAUTHENTICATED`; a publishable key
//! reads but may not write (`PERMISSION_DENIED`); both header forms work; health and reflection need no
//! key; authentication comes before the validation of a request.

use tally::pb::{
    self, CreateBudgetRequest, ListBudgetsRequest, ListRiskyAccountsRequest,
    budgets_client::BudgetsClient, reports_client::ReportsClient,
};
use tonic::Code;

use crate::helpers::{ApiKey, Backend, KEY_CACHE_TTL, spawn_app};

fn project_budget() -> pb::Budget {
    pb::Budget {
        name: "whole project".to_owned(),
        scope: Some(pb::BudgetScope {
            kind: pb::BudgetScopeKind::Project as i32,
            ..Default::default()
        }),
        monthly_limit_usd: "100".to_owned(),
        enforcement: pb::BudgetEnforcement::Alert as i32,
        ..Default::default()
    }
}

async fn calls_without_a_valid_key_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let well_formed_unknown = format!("sk_{}", "a".repeat(40));
    let cases = [
        ("no key", ApiKey::none()),
        ("empty key", ApiKey::x_api_key("")),
        ("malformed", ApiKey::bearer("not-a-key")),
        ("unknown", ApiKey::bearer(&well_formed_unknown)),
        (
            "right prefix, wrong secret",
            ApiKey::bearer(&format!("{}{}", &app.secret_key[..12], "b".repeat(31))),
        ),
    ];
    for (case, key) in cases {
        let mut client = BudgetsClient::with_interceptor(app.channel.clone(), key);
        let status = client
            .list_budgets(ListBudgetsRequest::default())
            .await
            .expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert!(!status.message().is_empty(), "{case}: the refusal says why");
    }
}

async fn both_header_forms_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    for key in [
        ApiKey::bearer(&app.secret_key),
        ApiKey::x_api_key(&app.secret_key),
    ] {
        let mut client = BudgetsClient::with_interceptor(app.channel.clone(), key);
        client
            .list_budgets(ListBudgetsRequest::default())
            .await
            .expect("a valid key is accepted");
    }
}

async fn a_publishable_key_reads_but_cannot_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut reader = app.budgets(&app.publishable_key);
    reader
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("publishable keys read");
    let denied = reader
        .create_budget(CreateBudgetRequest {
            budget: Some(project_budget()),
        })
        .await
        .expect_err("publishable keys cannot write");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("secret key"), "{denied:?}");

    let listed = reader
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.budgets.is_empty(), "the refused write wrote nothing");
    app.budgets(&app.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(project_budget()),
        })
        .await
        .expect("secret keys write");
}

async fn a_revoked_key_is_refused_once_the_key_cache_forgets_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.database.connect().await;
    let mut client = app.budgets(&app.secret_key);
    client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("valid before revocation");
    tally::admin::revoke_key(&db, &app.secret_key[..12])
        .await
        .expect("revoked");
    client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("still trusted right after revocation: it was verified moments ago");
    tokio::time::sleep(KEY_CACHE_TTL).await;
    let status = client
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn authentication_comes_before_validation(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = ListRiskyAccountsRequest::default();
    let mut anonymous = ReportsClient::with_interceptor(app.channel.clone(), ApiKey::none());
    let status = anonymous
        .list_risky_accounts(request.clone())
        .await
        .expect_err("no key");
    assert_eq!(
        status.code(),
        Code::Unauthenticated,
        "authentication comes first"
    );

    let mut client =
        ReportsClient::with_interceptor(app.channel.clone(), ApiKey::bearer(&app.secret_key));
    let status = client
        .list_risky_accounts(request)
        .await
        .expect_err("an empty request is invalid");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

crate::on_both_databases!(
    calls_without_a_valid_key_are_unauthenticated,
    both_header_forms_are_accepted,
    a_publishable_key_reads_but_cannot_write,
    a_revoked_key_is_refused_once_the_key_cache_forgets_it,
    authentication_comes_before_validation,
);
