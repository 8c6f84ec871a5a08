//! Migration 000011 flags the lines stored before it that were billed at the standard price for want
//! of a price at their tier, and only those, on SQLite and on PostgreSQL.

mod common;

use common::{insert_project, insert_statement};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, DatabaseConnection,
    prelude::{DateTimeUtc, Json},
    sea_query::{Expr, ExprTrait, Query, SimpleExpr},
};
use uuid::Uuid;

/// Migrations before 000011.
const BEFORE: u32 = 10;

async fn insert(db: &DatabaseConnection, table: &'static str, row: &[(&'static str, SimpleExpr)]) {
    db.execute(&insert_statement(table, row))
        .await
        .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
}

/// A line at `tier` with one item priced at `item_tier` from `source`; returns the line id.
async fn line(
    db: &DatabaseConnection,
    project: Uuid,
    event: Uuid,
    index: i64,
    (tier, item_tier, source): (&str, &str, &str),
) -> Uuid {
    let id = Uuid::now_v7();
    insert(
        db,
        "service_lines",
        &[
            ("id", id.into()),
            ("project_id", project.into()),
            ("event_ref", event.into()),
            ("line_index", index.into()),
            ("provider", "openai".into()),
            ("model", "gpt-4-turbo".into()),
            ("service_tier", tier.into()),
            ("status", "PROCESSED".into()),
            ("cost_e10", 100i64.into()),
        ],
    )
    .await;
    insert(
        db,
        "line_cost_items",
        &[
            ("id", Uuid::now_v7().into()),
            ("project_id", project.into()),
            ("line_ref", id.into()),
            ("dimension", "INPUT".into()),
            ("service_tier", item_tier.into()),
            ("long_context", false.into()),
            ("units", 10i64.into()),
            ("unit_price_usd", "0.00001".into()),
            ("cost_e10", 100i64.into()),
            ("price_source", source.into()),
        ],
    )
    .await;
    id
}

async fn lines_stored_before_are_flagged_from_their_items(db: &DatabaseConnection) {
    Migrator::up(db, Some(BEFORE)).await.expect("up to 000010");
    let (project, customer, agent, event) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let now = DateTimeUtc::from_timestamp(1_800_000_000, 0).expect("time");
    insert_project(db, project, now).await;
    for (table, code_column, code) in [
        ("customers", "customer_id", customer),
        ("agents", "agent_code", agent),
    ] {
        let mut row = vec![
            ("id", code.into()),
            ("project_id", project.into()),
            (code_column, "acme".into()),
            ("create_time", now.into()),
            ("first_seen_time", now.into()),
            ("last_seen_time", now.into()),
        ];
        if table == "customers" {
            row.push(("aliases", Json::Array(Vec::new()).into()));
        }
        insert(db, table, &row).await;
    }
    insert(
        db,
        "cost_events",
        &[
            ("id", event.into()),
            ("project_id", project.into()),
            ("customer_ref", customer.into()),
            ("agent_ref", agent.into()),
            ("quantity", 1i64.into()),
            ("usage_time", now.into()),
            ("receive_time", now.into()),
            ("status", "PROCESSED".into()),
            ("total_cost_e10", 400i64.into()),
        ],
    )
    .await;
    let flagged = line(db, project, event, 0, ("BATCH", "STANDARD", "CATALOG")).await;
    let cases = [
        ("BATCH", "BATCH", "CATALOG"),
        ("STANDARD", "STANDARD", "CATALOG"),
        ("FLEX", "STANDARD", "MANUAL"),
    ];
    for (index, case) in (1..).zip(cases) {
        line(db, project, event, index, case).await;
    }

    Migrator::up(db, None).await.expect("up");
    let rows = db
        .query_all(
            Query::select()
                .column("id")
                .from("service_lines")
                .and_where(Expr::col("tier_price_missing").eq(true)),
        )
        .await
        .expect("flagged lines");
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.try_get("", "id").expect("id"))
        .collect();
    assert_eq!(ids, [flagged]);
}

#[tokio::test]
async fn lines_stored_before_are_flagged_on_sqlite() {
    common::on_sqlite(
        "tally_tier",
        lines_stored_before_are_flagged_from_their_items,
    )
    .await;
}

#[tokio::test]
async fn lines_stored_before_are_flagged_on_postgres() {
    common::on_postgres(
        "tally_tier",
        lines_stored_before_are_flagged_from_their_items,
    )
    .await;
}
