//! Migrations applied again, by `migrate` and by a server starting over an existing database, change
//! nothing and lose nothing.

use tally::{
    pb::{self, CreateBudgetRequest, ListBudgetsRequest},
    store,
};

use crate::helpers::{Backend, TestDatabase, spawn_app_on};

async fn migrations_applied_twice_keep_the_data(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let mut first = spawn_app_on(database.alias()).await;
    first
        .budgets(&first.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: "kept".to_owned(),
                scope: Some(pb::BudgetScope {
                    kind: pb::BudgetScopeKind::Project as i32,
                    ..Default::default()
                }),
                monthly_limit_usd: "42".to_owned(),
                enforcement: pb::BudgetEnforcement::Alert as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("created");
    first.stop().await.expect("clean stop");

    let db = database.connect().await;
    store::migrate(&db).await.expect("migrations applied again");
    store::migrate(&db).await.expect("and again");
    db.close().await.ok();

    // A new server over the same database applies them once more at start.
    let second = spawn_app_on(database.alias()).await;
    let listed = second
        .budgets(&second.secret_key)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.budgets.len(), 1);
    assert_eq!(listed.budgets[0].name, "kept");
    assert_eq!(listed.budgets[0].monthly_limit_usd, "42.0000000000");
}

crate::on_both_databases!(migrations_applied_twice_keep_the_data);
