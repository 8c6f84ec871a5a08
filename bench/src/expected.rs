//! What ingest stores for a synthetic event, worked out when the event is made, so that the raw
//! baseline writes the same rows without pricing anything while it is timed.

use rust_decimal::Decimal;
use tally::domain::event::EventStatus;

use super::{
    models::{BenchModel, Bill},
    synthetic::{Call, SyntheticEvent, SyntheticLine},
};

/// A line as ingest stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedLine {
    pub status: EventStatus,
    /// The provider and model whose prices priced it (also for a line missing its volume).
    pub priced_as: Option<(&'static str, &'static str)>,
    pub cost_e10: Option<i64>,
    pub items: Vec<ExpectedItem>,
    pub error: Option<String>,
}

/// A cost item as ingest stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedItem {
    pub dimension: &'static str,
    pub units: u64,
    /// Decimal text in plain notation, e.g. `0.00000015`.
    pub unit_price_usd: String,
    pub cost_e10: i64,
    /// `CATALOG` or `MANUAL`.
    pub price_source: &'static str,
}

impl SyntheticLine {
    /// The line as ingest stores it; `index` is its position in the event.
    pub fn expected(&self, index: usize) -> ExpectedLine {
        let (provider, model) = (self.call.provider(), self.call.model());
        match self.call {
            Call::Manual(_, _, cost_e10) => ExpectedLine {
                status: EventStatus::Processed,
                priced_as: None,
                cost_e10: Some(cost_e10),
                items: vec![ExpectedItem {
                    dimension: "MANUAL",
                    units: 1,
                    unit_price_usd: usd_text(cost_e10),
                    cost_e10,
                    price_source: "MANUAL",
                }],
                error: None,
            },
            Call::Unknown(..) => ExpectedLine {
                status: EventStatus::NeedsCostBackfill,
                priced_as: None,
                cost_e10: None,
                items: Vec::new(),
                error: Some(format!(
                    "line {index}: no price for provider {provider:?} model {model:?} at the usage \
                     time; give one with MapModel or SetPrice"
                )),
            },
            Call::Known(_) if self.tokens.input.is_none() && self.tokens.output.is_none() => {
                ExpectedLine {
                    status: EventStatus::MissingVolumeData,
                    priced_as: Some((provider, model)),
                    cost_e10: None,
                    items: Vec::new(),
                    error: Some(format!(
                        "line {index}: the price of provider {provider:?} model {model:?} needs \
                         input_tokens or output_tokens (or quantity for a per-unit service); send \
                         them with FillVolume"
                    )),
                }
            }
            Call::Known(known) => priced(known, &known.bill(&self.tokens)),
        }
    }
}

fn priced(model: &BenchModel, bills: &[Bill]) -> ExpectedLine {
    let items: Vec<ExpectedItem> = bills
        .iter()
        .map(|bill| ExpectedItem {
            dimension: bill.dimension.as_str(),
            units: bill.units,
            unit_price_usd: usd_text(bill.unit_price_e10),
            cost_e10: i64::try_from(bill.units)
                .unwrap_or(i64::MAX)
                .saturating_mul(bill.unit_price_e10),
            price_source: "CATALOG",
        })
        .collect();
    ExpectedLine {
        status: EventStatus::Processed,
        priced_as: Some((model.provider, model.model)),
        cost_e10: Some(items.iter().map(|item| item.cost_e10).sum()),
        items,
        error: None,
    }
}

/// An amount in 1e-10 USD as plain decimal text without trailing zeros.
fn usd_text(e10: i64) -> String {
    Decimal::new(e10, 10).normalize().to_string()
}

impl SyntheticEvent {
    /// Every line as ingest stores it, in order.
    pub fn expected_lines(&self) -> Vec<ExpectedLine> {
        self.lines
            .iter()
            .enumerate()
            .map(|(index, line)| line.expected(index))
            .collect()
    }
}

/// The event's status (the worst of its lines), total (the sum of its priced lines, None when
/// none is priced) and error (the lines' errors joined with "; ").
pub fn event_summary(lines: &[ExpectedLine]) -> (EventStatus, Option<i64>, Option<String>) {
    let status = EventStatus::worst(lines.iter().map(|line| line.status));
    let costs: Vec<i64> = lines.iter().filter_map(|line| line.cost_e10).collect();
    let total = (!costs.is_empty()).then(|| costs.iter().sum());
    let errors: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.error.as_deref())
        .collect();
    (
        status,
        total,
        (!errors.is_empty()).then(|| errors.join("; ")),
    )
}
