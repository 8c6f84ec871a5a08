//! `monthly_spend` keeps only the scopes without a customer (an agent's, `''` for the project's).
//! A customer's spend, alone or with an agent, is read from `event_monthly` (migration 000008),
//! which holds the same cost per month, customer and agent (and plan and signal): ingest wrote
//! each customer's cost twice, two of the four rows every event added to. `down` writes the
//! customer rows back from `event_monthly`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM monthly_spend WHERE customer_id <> ''")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Each customer with each agent, then each customer alone (agent '').
        for (agent, grouped) in [("agent_code", ", agent_code"), ("''", "")] {
            db.execute_unprepared(&format!(
                "INSERT INTO monthly_spend (project_id, month_start, customer_id, agent_code, cost_e10) \
                 SELECT project_id, month_start, customer_id, {agent}, SUM(cost_e10) FROM event_monthly \
                 GROUP BY project_id, month_start, customer_id{grouped}"
            ))
            .await?;
        }
        Ok(())
    }
}
