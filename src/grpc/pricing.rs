//! The `tally.v1.Pricing` service: prices, model mappings, quotes, unpriced models and signal
//! prices (converted in `signal_prices.rs`).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert::{enum_value, time, timestamp},
    ingest_convert,
    ingest_results::{cost_items, dimension, status, tier},
    signal_prices,
    status::tenant,
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::{self, EventStatus},
        ledger::PricedLine,
        money::{Usd, parse_unit_price},
        page_token::{self, PageLimits},
        pricing::{Convention, Dimension, ModelPrices, PriceSource, Tier},
        text,
    },
    pb::{self, pricing_server::Pricing},
    service::{
        line_pricing::line_error,
        price_book::PriceBook,
        pricing::{PriceLookup, PricingService},
        signal_prices as signal_price_service,
    },
    store::{
        self,
        pricing_admin::{Mapping, NewPrice, PriceFilter, StoredPrice, UnpricedModel},
    },
};

const PRICE_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};
const MAPPING_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 100,
};
const UNPRICED_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 100,
};
/// Names listed per unpriced model.
const NAMES_LISTED: usize = 20;
/// Lines per `QuoteCost`.
const MAX_QUOTE_LINES: usize = 100;

/// Adapter from the `Pricing` contract to the pricing service.
pub struct PricingApi {
    db: sea_orm::DatabaseConnection,
    service: Arc<PricingService>,
    prices: Arc<PriceBook>,
}

impl PricingApi {
    pub fn new(
        db: sea_orm::DatabaseConnection,
        service: Arc<PricingService>,
        prices: Arc<PriceBook>,
    ) -> Self {
        Self {
            db,
            service,
            prices,
        }
    }

    fn price(&self, stored: StoredPrice) -> pb::Price {
        let convention = self.prices.convention(&stored.price.provider);
        price_message(
            stored.id.to_string(),
            &stored.price,
            stored.source,
            convention,
        )
    }
}

fn invalid(violations: Vec<FieldViolation>) -> Status {
    DomainError::Invalid(violations).into()
}

/// Reads an offset page token; the list's filters are its fingerprint.
fn offset(token: &str, fingerprint: &str) -> Result<u64, Status> {
    page_token::decode(token, fingerprint)
        .and_then(|cursor| {
            cursor
                .map(|cursor| {
                    cursor.parse::<u64>().map_err(|_| {
                        FieldViolation::new("page_token", "not a page token of this list")
                    })
                })
                .transpose()
        })
        .map(Option::unwrap_or_default)
        .map_err(|violation| invalid(vec![violation]))
}

/// Cuts a fetch of `size + 1` rows to the page and the token of the page after it (empty when this
/// page is the last).
fn offset_page<T>(mut rows: Vec<T>, offset: u64, size: u64, fingerprint: &str) -> (Vec<T>, String) {
    let next = next_offset(offset, size, rows.len(), fingerprint);
    rows.truncate(size as usize);
    (rows, next)
}

/// The token of the page after `offset`, or empty when this page was the last.
fn next_offset(offset: u64, size: u64, fetched: usize, fingerprint: &str) -> String {
    if fetched as u64 > size {
        page_token::encode(&(offset + size).to_string(), fingerprint)
    } else {
        String::new()
    }
}

#[tonic::async_trait]
impl Pricing for PricingApi {
    #[tracing::instrument(skip_all)]
    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListPricesRequest {
            page_size,
            page_token,
            provider,
            model_prefix,
            source,
        } = request.into_inner();
        let filter = PriceFilter {
            provider: optional(&provider)
                .map(|p| event::service_name(p, "provider"))
                .transpose()
                .map_err(|v| invalid(vec![v]))?,
            model_prefix: text::filter(model_prefix, "model_prefix")
                .map_err(|v| invalid(vec![v]))?
                .map(|prefix| store_name(&prefix)),
            source: match enum_value(source, "source").map_err(|v| invalid(vec![v]))? {
                Some(pb::PriceSource::Catalog) => Some(PriceSource::Catalog),
                Some(pb::PriceSource::Project) => Some(PriceSource::Project),
                Some(pb::PriceSource::Unspecified) | None => None,
            },
        };
        let fingerprint = format!("{filter:?}");
        let offset = offset(&page_token, &fingerprint)?;
        let size = PRICE_PAGES.size(page_size);
        let prices = self
            .service
            .list_prices(tenant, &filter, offset, size + 1)
            .await?;
        let (prices, next_page_token) = offset_page(prices, offset, size, &fingerprint);
        Ok(Response::new(pb::ListPricesResponse {
            prices: prices.into_iter().map(|p| self.price(p)).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_price(
        &self,
        request: Request<pb::GetPriceRequest>,
    ) -> Result<Response<pb::GetPriceResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::GetPriceRequest {
            provider,
            model,
            usage_time,
        } = request.into_inner();
        let mut violations = Vec::new();
        let provider = event::service_name(&provider, "provider")
            .map_err(|v| violations.push(v))
            .ok();
        let model = event::service_name(&model, "model")
            .map_err(|v| violations.push(v))
            .ok();
        let at = usage_time
            .map(|t| time(&t, "usage_time"))
            .transpose()
            .map_err(|v| violations.push(v))
            .ok()
            .flatten();
        let (Some(provider), Some(model)) = (provider, model) else {
            return Err(invalid(violations));
        };
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let lookup = self
            .service
            .get_price(tenant, &provider, &model, at.unwrap_or_else(store::now))
            .await?;
        let PriceLookup {
            prices:
                ModelPrices {
                    provider,
                    model,
                    rates,
                },
            mapping,
            counts_convention,
        } = lookup;
        let convention = self.prices.convention(&provider);
        let prices = rates
            .iter()
            .map(|rate| {
                let price = NewPrice {
                    provider: provider.clone(),
                    model: model.clone(),
                    dimension: rate.dimension,
                    tier: rate.tier,
                    min_input_tokens: rate.min_input_tokens,
                    unit_price: rate.unit_price,
                    effective_time: rate.price.effective_time,
                };
                price_message(
                    rate.price.id.to_string(),
                    &price,
                    rate.price.source,
                    convention,
                )
            })
            .collect();
        Ok(Response::new(pb::GetPriceResponse {
            priced_provider: provider,
            priced_model: model,
            mapping: mapping.map(mapping_message),
            prices,
            token_convention: Some(convention_message(counts_convention)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_price(
        &self,
        request: Request<pb::SetPriceRequest>,
    ) -> Result<Response<pb::SetPriceResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::SetPriceRequest { price } = request.into_inner();
        let Some(price) = price else {
            return Err(invalid(vec![FieldViolation::new("price", "required")]));
        };
        let price = new_price(price)?;
        let (stored, repriced) = self.service.set_price(tenant, price).await?;
        Ok(Response::new(pb::SetPriceResponse {
            price: Some(self.price(stored)),
            repriced_event_count: repriced as u64,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn map_model(
        &self,
        request: Request<pb::MapModelRequest>,
    ) -> Result<Response<pb::MapModelResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::MapModelRequest {
            from_provider,
            from_model,
            to_provider,
            to_model,
        } = request.into_inner();
        let mut violations = Vec::new();
        let mut name = |value: &str, field: &str| {
            event::service_name(value, field)
                .map_err(|v| violations.push(v))
                .ok()
        };
        let names = (
            name(&from_provider, "from_provider"),
            name(&from_model, "from_model"),
            name(&to_provider, "to_provider"),
            name(&to_model, "to_model"),
        );
        let (Some(from_provider), Some(from_model), Some(to_provider), Some(to_model)) = names
        else {
            return Err(invalid(violations));
        };
        if (&from_provider, &from_model) == (&to_provider, &to_model) {
            return Err(invalid(vec![FieldViolation::new(
                "to_model",
                "a model cannot be mapped to itself",
            )]));
        }
        let (mapping, repriced) = self
            .service
            .map_model(tenant, (from_provider, from_model), (to_provider, to_model))
            .await?;
        Ok(Response::new(pb::MapModelResponse {
            mapping: Some(mapping_message(mapping)),
            repriced_event_count: repriced as u64,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_model_mappings(
        &self,
        request: Request<pb::ListModelMappingsRequest>,
    ) -> Result<Response<pb::ListModelMappingsResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListModelMappingsRequest {
            page_size,
            page_token,
            from_provider,
        } = request.into_inner();
        let from_provider = optional(&from_provider)
            .map(|provider| event::service_name(provider, "from_provider"))
            .transpose()
            .map_err(|v| invalid(vec![v]))?;
        let fingerprint = format!("{from_provider:?}");
        let offset = offset(&page_token, &fingerprint)?;
        let size = MAPPING_PAGES.size(page_size);
        let mappings = self
            .service
            .list_mappings(tenant, from_provider.as_deref(), offset, size + 1)
            .await?;
        let (mappings, next_page_token) = offset_page(mappings, offset, size, &fingerprint);
        Ok(Response::new(pb::ListModelMappingsResponse {
            mappings: mappings.into_iter().map(mapping_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_unpriced_models(
        &self,
        request: Request<pb::ListUnpricedModelsRequest>,
    ) -> Result<Response<pb::ListUnpricedModelsResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListUnpricedModelsRequest {
            page_size,
            page_token,
            start_time,
            end_time,
        } = request.into_inner();
        let mut violations = Vec::new();
        let mut window_time = |value: Option<prost_types::Timestamp>, field: &str| {
            value.and_then(|value| time(&value, field).map_err(|v| violations.push(v)).ok())
        };
        let window = (
            window_time(start_time, "start_time"),
            window_time(end_time, "end_time"),
        );
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let fingerprint = format!("{window:?}");
        let offset = offset(&page_token, &fingerprint)?;
        let size = UNPRICED_PAGES.size(page_size);
        let models = self
            .service
            .list_unpriced(tenant, window, offset, size + 1)
            .await?;
        let (models, next_page_token) = offset_page(models, offset, size, &fingerprint);
        Ok(Response::new(pb::ListUnpricedModelsResponse {
            unpriced_models: models.into_iter().map(unpriced_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn quote_cost(
        &self,
        request: Request<pb::QuoteCostRequest>,
    ) -> Result<Response<pb::QuoteCostResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::QuoteCostRequest {
            services,
            usage_time,
        } = request.into_inner();
        let mut violations = Vec::new();
        if services.is_empty() || services.len() > MAX_QUOTE_LINES {
            violations.push(FieldViolation::new(
                "services",
                format!(
                    "1 to {MAX_QUOTE_LINES} service lines, got {}",
                    services.len()
                ),
            ));
        }
        let at = usage_time
            .map(|t| time(&t, "usage_time"))
            .transpose()
            .map_err(|v| violations.push(v))
            .ok()
            .flatten();
        let lines: Vec<_> = services
            .into_iter()
            .enumerate()
            .filter_map(|(index, service)| {
                ingest_convert::line(service, &format!("services[{index}]."), &mut violations)
            })
            .collect();
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let priced = self
            .service
            .quote(tenant, &lines, at.unwrap_or_else(store::now))
            .await?;
        Ok(Response::new(quote_message(&priced)))
    }

    #[tracing::instrument(skip_all)]
    async fn set_signal_price(
        &self,
        request: Request<pb::SetSignalPriceRequest>,
    ) -> Result<Response<pb::SetSignalPriceResponse>, Status> {
        let tenant = tenant(&request)?;
        let price = signal_prices::new_signal_price(request.into_inner())?;
        let stored = signal_price_service::set(&self.db, tenant, price).await?;
        Ok(Response::new(pb::SetSignalPriceResponse {
            signal_price: Some(signal_prices::to_proto(stored)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_signal_prices(
        &self,
        request: Request<pb::ListSignalPricesRequest>,
    ) -> Result<Response<pb::ListSignalPricesResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListSignalPricesRequest {
            page_size,
            page_token,
            plan_name,
            signal_name,
        } = request.into_inner();
        let filter = signal_prices::filter(plan_name, signal_name)?;
        let (prices, next_page_token) =
            signal_price_service::list(&self.db, tenant, filter, page_size, &page_token).await?;
        Ok(Response::new(pb::ListSignalPricesResponse {
            signal_prices: prices.into_iter().map(signal_prices::to_proto).collect(),
            next_page_token,
        }))
    }
}

/// Empty means absent.
fn optional(value: &str) -> Option<&str> {
    (!value.trim().is_empty()).then_some(value)
}

/// A provider or model name as stored: trimmed and lowercased.
fn store_name(value: &str) -> String {
    crate::domain::pricing::normalize_name(value)
}

fn new_price(price: pb::Price) -> Result<NewPrice, Status> {
    let pb::Price {
        price_id: _,
        provider,
        model,
        dimension: wire_dimension,
        service_tier,
        long_context_threshold_tokens,
        unit_price_usd,
        effective_time,
        source: _,
        token_convention: _,
    } = price;
    let mut violations = Vec::new();
    let provider = event::service_name(&provider, "price.provider")
        .map_err(|v| violations.push(v))
        .ok();
    let model = event::service_name(&model, "price.model")
        .map_err(|v| violations.push(v))
        .ok();
    let dimension = match pb::CostDimension::try_from(wire_dimension) {
        Ok(pb::CostDimension::Input) => Some(Dimension::Input),
        Ok(pb::CostDimension::Output) => Some(Dimension::Output),
        Ok(pb::CostDimension::CachedInput) => Some(Dimension::CachedInput),
        Ok(pb::CostDimension::CacheCreation) => Some(Dimension::CacheCreation),
        Ok(pb::CostDimension::Reasoning) => Some(Dimension::Reasoning),
        Ok(pb::CostDimension::Unit) => Some(Dimension::Unit),
        _ => {
            violations.push(FieldViolation::new(
                "price.dimension",
                "required: INPUT, OUTPUT, CACHED_INPUT, CACHE_CREATION, REASONING or UNIT",
            ));
            None
        }
    };
    let tier = match pb::ServiceTier::try_from(service_tier) {
        Ok(pb::ServiceTier::Unspecified | pb::ServiceTier::Standard) => Tier::Standard,
        Ok(pb::ServiceTier::Batch) => Tier::Batch,
        Ok(pb::ServiceTier::Flex) => Tier::Flex,
        Ok(pb::ServiceTier::Priority) => Tier::Priority,
        Err(_) => {
            violations.push(FieldViolation::new("price.service_tier", "unknown tier"));
            Tier::Standard
        }
    };
    let min_input_tokens = match long_context_threshold_tokens {
        Some(0) => {
            violations.push(FieldViolation::new(
                "price.long_context_threshold_tokens",
                "must be more than 0; leave it unset for the base rate",
            ));
            0
        }
        Some(threshold) if i64::try_from(threshold).is_err() => {
            violations.push(FieldViolation::new(
                "price.long_context_threshold_tokens",
                "too large",
            ));
            0
        }
        Some(threshold) => threshold,
        None => 0,
    };
    let unit_price = parse_unit_price(&unit_price_usd)
        .map_err(|message| violations.push(FieldViolation::new("price.unit_price_usd", message)))
        .ok();
    let effective_time = effective_time
        .map(|t| time(&t, "price.effective_time"))
        .transpose()
        .map_err(|v| violations.push(v))
        .ok()
        .flatten()
        .unwrap_or_else(store::now);
    match (provider, model, dimension, unit_price) {
        (Some(provider), Some(model), Some(dimension), Some(unit_price))
            if violations.is_empty() =>
        {
            Ok(NewPrice {
                provider,
                model,
                dimension,
                tier,
                min_input_tokens,
                unit_price,
                effective_time,
            })
        }
        _ => Err(invalid(violations)),
    }
}

fn price_message(
    price_id: String,
    price: &NewPrice,
    source: PriceSource,
    convention: Convention,
) -> pb::Price {
    pb::Price {
        price_id,
        provider: price.provider.clone(),
        model: price.model.clone(),
        dimension: dimension(price.dimension) as i32,
        service_tier: tier(price.tier) as i32,
        long_context_threshold_tokens: (price.min_input_tokens > 0)
            .then_some(price.min_input_tokens),
        unit_price_usd: price.unit_price.normalize().to_string(),
        effective_time: Some(timestamp(price.effective_time)),
        source: match source {
            PriceSource::Catalog => pb::PriceSource::Catalog,
            PriceSource::Project => pb::PriceSource::Project,
        } as i32,
        token_convention: Some(convention_message(convention)),
    }
}

fn convention_message(convention: Convention) -> pb::TokenConvention {
    pb::TokenConvention {
        input_includes_cached_input: convention.cached_input_in_input,
        output_includes_reasoning: convention.reasoning_in_output,
    }
}

fn mapping_message(mapping: Mapping) -> pb::ModelMapping {
    pb::ModelMapping {
        from_provider: mapping.from.0,
        from_model: mapping.from.1,
        to_provider: mapping.to.0,
        to_model: mapping.to.1,
        create_time: Some(timestamp(mapping.update_time)),
    }
}

pub(super) fn unpriced_message(model: UnpricedModel) -> pb::UnpricedModel {
    let names = |named: &[(String, u64)]| {
        named
            .iter()
            .take(NAMES_LISTED)
            .map(|(name, _)| name.clone())
            .collect()
    };
    pb::UnpricedModel {
        event_count: model.events,
        agent_count: model.agents.len() as u64,
        agent_codes: names(&model.agents),
        customer_count: model.customers.len() as u64,
        customer_ids: names(&model.customers),
        signal_names: names(&model.signals),
        first_seen_time: Some(timestamp(model.first_seen)),
        last_seen_time: Some(timestamp(model.last_seen)),
        provider: model.provider,
        model: model.model,
    }
}

fn quote_message(lines: &[PricedLine]) -> pb::QuoteCostResponse {
    let known: Vec<Usd> = lines.iter().filter_map(|line| line.cost).collect();
    let total = (!known.is_empty()).then(|| {
        known
            .iter()
            .fold(Usd::ZERO, |sum, cost| sum.checked_add(*cost).unwrap_or(sum))
    });
    pb::QuoteCostResponse {
        status: status(EventStatus::worst(lines.iter().map(|line| line.status))) as i32,
        total_cost_usd: total.map(|total| total.to_string()).unwrap_or_default(),
        cost_items: lines
            .iter()
            .enumerate()
            .flat_map(|(index, line)| cost_items(index, line))
            .collect(),
        lines: lines
            .iter()
            .enumerate()
            .map(|(index, line)| pb::LineResult {
                index: index as u32,
                status: status(line.status) as i32,
                cost_usd: line.cost.map(|cost| cost.to_string()).unwrap_or_default(),
                error: line_error(index, line),
            })
            .collect(),
    }
}
