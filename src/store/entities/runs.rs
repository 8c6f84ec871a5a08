//! One execution of a workflow, with totals and waste-flag counters kept current at ingest.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// The caller's run id, or the text form of `id` when the caller gave none.
    /// Unique per project.
    #[sea_orm(column_type = "Text")]
    pub run_key: String,
    pub customer_ref: Uuid,
    pub agent_ref: Uuid,
    #[sea_orm(column_type = "Text")]
    pub user_id: Option<String>,
    /// `RUNNING`, `COMPLETED` or `FAILED`.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    pub start_time: DateTimeUtc,
    pub end_time: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub failure_reason: Option<String>,
    pub cancelled: bool,
    pub metadata: Option<Json>,
    /// Sum of the priced lines' costs, in 1e-10 USD.
    pub total_cost_e10: i64,
    /// Cost events of the run.
    pub event_count: i64,
    /// Service lines of the run.
    pub step_count: i64,
    /// Lines whose cost is still unknown.
    pub unpriced_lines: i64,
    /// Token totals of the run's lines.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_tokens: i64,
    pub reasoning_tokens: i64,
    pub first_event_time: Option<DateTimeUtc>,
    pub last_event_time: Option<DateTimeUtc>,
    pub budget_exceeded: bool,
    /// Context bloat: how many of the first steps make the baseline (up to the
    /// configured number), and the sum of their input tokens.
    pub baseline_steps: i64,
    pub baseline_input_tokens: i64,
    /// Largest input token count of one step so far.
    pub max_step_input_tokens: i64,
    /// 1-based step at which input tokens first passed the bloat threshold.
    pub bloat_step: Option<i64>,
    /// Runaway loop: the last call's signature (provider, model, token counts),
    /// how many identical calls in a row ended with it, and the longest such streak.
    #[sea_orm(column_type = "Text")]
    pub last_call_signature: Option<String>,
    pub repeat_streak: i64,
    pub repeat_start_step: i64,
    pub max_repeat_streak: i64,
    /// First step of the first streak of identical calls that reached the loop threshold.
    pub loop_step: Option<i64>,
    /// The budget whose limit the run passed first.
    pub exceeded_budget_ref: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
    #[sea_orm(
        belongs_to = "super::customers::Entity",
        from = "Column::CustomerRef",
        to = "super::customers::Column::Id",
        on_delete = "NoAction"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::agents::Entity",
        from = "Column::AgentRef",
        to = "super::agents::Column::Id",
        on_delete = "NoAction"
    )]
    Agent,
    #[sea_orm(has_many = "super::run_model_totals::Entity")]
    ModelTotals,
    #[sea_orm(has_many = "super::outcomes::Entity")]
    Outcomes,
    #[sea_orm(has_many = "super::cost_events::Entity")]
    CostEvents,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::customers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::agents::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agent.def()
    }
}

impl Related<super::run_model_totals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ModelTotals.def()
    }
}

impl Related<super::outcomes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Outcomes.def()
    }
}

impl Related<super::cost_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CostEvents.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
