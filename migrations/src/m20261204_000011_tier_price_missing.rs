//! `service_lines.tier_price_missing`: the line ran at a batch, flex or priority tier and some of its
//! units were billed at the standard price because the model has no price of that tier for them
//! (a cost item's `service_tier` differs from the line's). `GetNeedsAttention` lists such lines; a
//! partial index lets it read only them. Lines stored before this migration get the flag from their items.

use sea_orm_migration::prelude::*;

use crate::columns::{flag, index};
use crate::m20261129_000004_events::ServiceLines;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Flagged {
    TierPriceMissing,
}

const INDEX: &str = "service_lines_project_tier_price_missing_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite has no `ADD COLUMN IF NOT EXISTS`: look first, so that `up` may run again.
        if !manager
            .has_column("service_lines", "tier_price_missing")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(ServiceLines::Table)
                        .add_column(flag(Flagged::TierPriceMissing).not_null().take())
                        .to_owned(),
                )
                .await?;
        }
        // A non-manual item priced at another tier than its line's (the standard one, for want
        // of the line's).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE service_lines SET tier_price_missing = TRUE \
                 WHERE service_tier <> 'STANDARD' AND NOT tier_price_missing AND EXISTS ( \
                 SELECT 1 FROM line_cost_items i WHERE i.line_ref = service_lines.id \
                 AND i.price_source <> 'MANUAL' AND i.service_tier <> service_lines.service_tier)",
            )
            .await?;
        // Partial: only the flagged lines, a few among many. Queries name the same condition
        // (`tier_price_missing = TRUE`) so that both databases use it.
        let flagged = index(
            INDEX,
            ServiceLines::Table,
            &[ServiceLines::ProjectId, ServiceLines::EventRef],
        )
        .and_where(Expr::cust("tier_price_missing = TRUE"))
        .take();
        manager.create_index(flagged).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ServiceLines::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        if manager
            .has_column("service_lines", "tier_price_missing")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(ServiceLines::Table)
                        .drop_column(Flagged::TierPriceMissing)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
