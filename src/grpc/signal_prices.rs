//! Conversions of `SetSignalPrice` and `ListSignalPrices` between the wire and the signal price
//! service; the handlers themselves are in `pricing.rs`.

use super::convert::{time, timestamp};
use crate::{
    domain::{DomainError, Violations, money::parse_unit_price, text},
    pb,
    store::{
        self,
        signal_prices::{NewSignalPrice, SignalPrice, SignalPriceFilter},
    },
};

/// Reads a signal price to set, listing every violation.
pub fn new_signal_price(request: pb::SetSignalPriceRequest) -> Result<NewSignalPrice, DomainError> {
    let mut violations = Violations::default();
    let pb::SetSignalPriceRequest { signal_price } = request;
    let Some(price) = signal_price else {
        violations.add("signal_price", "required");
        return Err(violations.into_result().expect_err("a violation was added"));
    };
    let pb::SignalPrice {
        plan_name,
        signal_name,
        unit_price_usd,
        effective_time,
        create_time: _,
    } = price;
    let plan_name = violations.check(text::name(&plan_name, "signal_price.plan_name"));
    let signal_name = violations.check(text::identifier(&signal_name, "signal_price.signal_name"));
    let unit_price = if unit_price_usd.is_empty() {
        violations.add("signal_price.unit_price_usd", "required, such as \"0.25\"");
        None
    } else {
        parse_unit_price(&unit_price_usd)
            .map_err(|message| violations.add("signal_price.unit_price_usd", message))
            .ok()
    };
    let effective_time = match effective_time {
        Some(effective) => violations.check(time(&effective, "signal_price.effective_time")),
        None => Some(store::now()),
    };
    violations.into_result()?;
    match (plan_name, signal_name, unit_price, effective_time) {
        (Some(plan_name), Some(signal_name), Some(unit_price), Some(effective_time)) => {
            Ok(NewSignalPrice {
                plan_name,
                signal_name,
                unit_price,
                effective_time,
            })
        }
        _ => Err(DomainError::Internal(
            "signal price parsed without violations but incomplete".into(),
        )),
    }
}

/// The filters of a `ListSignalPrices`; empty means any.
pub fn filter(plan_name: String, signal_name: String) -> Result<SignalPriceFilter, DomainError> {
    let mut violations = Violations::default();
    let filter = SignalPriceFilter {
        plan_name: violations
            .check(text::filter(plan_name, "plan_name"))
            .flatten(),
        signal_name: violations
            .check(text::filter(signal_name, "signal_name"))
            .flatten(),
    };
    violations.into_result().map(|()| filter)
}

pub fn to_proto(price: SignalPrice) -> pb::SignalPrice {
    let SignalPrice {
        plan_name,
        signal_name,
        unit_price,
        effective_time,
        create_time,
    } = price;
    pb::SignalPrice {
        plan_name,
        signal_name,
        unit_price_usd: unit_price.normalize().to_string(),
        effective_time: Some(timestamp(effective_time)),
        create_time: Some(timestamp(create_time)),
    }
}
