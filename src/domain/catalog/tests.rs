use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("decimal")
}

fn field(dimension: Dimension, tier: Tier, min_input_tokens: u64) -> Option<TokenField> {
    Some(TokenField {
        dimension,
        tier,
        min_input_tokens,
    })
}

fn entry<'c>(catalog: &'c Catalog, provider: &str, model: &str) -> &'c CatalogEntry {
    catalog
        .entries
        .iter()
        .find(|entry| entry.provider == provider && entry.model == model)
        .unwrap_or_else(|| panic!("no {provider} {model} in {:#?}", catalog.entries))
}

fn price(entry: &CatalogEntry, dimension: Dimension, tier: Tier, min: u64) -> Option<Decimal> {
    entry
        .prices
        .iter()
        .find(|price| {
            (price.dimension, price.tier, price.min_input_tokens) == (dimension, tier, min)
        })
        .map(|price| price.unit_price)
}

#[test]
fn field_names_map_to_dimensions() {
    use Dimension::*;
    let standard = Tier::Standard;
    assert_eq!(
        token_field("input_cost_per_token"),
        field(Input, standard, 0)
    );
    assert_eq!(
        token_field("output_cost_per_token"),
        field(Output, standard, 0)
    );
    assert_eq!(
        token_field("cache_read_input_token_cost"),
        field(CachedInput, standard, 0)
    );
    assert_eq!(
        token_field("cache_creation_input_token_cost"),
        field(CacheCreation, standard, 0)
    );
    assert_eq!(
        token_field("output_cost_per_reasoning_token"),
        field(Reasoning, standard, 0)
    );
}

#[test]
fn suffixes_give_tiers_and_thresholds() {
    use Dimension::*;
    assert_eq!(
        token_field("input_cost_per_token_batches"),
        field(Input, Tier::Batch, 0)
    );
    assert_eq!(
        token_field("output_cost_per_token_flex"),
        field(Output, Tier::Flex, 0)
    );
    assert_eq!(
        token_field("cache_read_input_token_cost_priority"),
        field(CachedInput, Tier::Priority, 0)
    );
    assert_eq!(
        token_field("input_cost_per_token_above_200k_tokens"),
        field(Input, Tier::Standard, 200_000)
    );
    assert_eq!(
        token_field("input_cost_per_token_above_272k_tokens_priority"),
        field(Input, Tier::Priority, 272_000)
    );
    assert_eq!(
        token_field("cache_creation_input_token_cost_above_272k_tokens_batches"),
        field(CacheCreation, Tier::Batch, 272_000)
    );
}

#[test]
fn fields_tally_does_not_price_are_ignored() {
    for name in [
        "input_cost_per_audio_token",
        "output_cost_per_image_token",
        "input_cost_per_video_per_second",
        "cache_creation_input_token_cost_above_1hr",
        "cache_creation_input_token_cost_above_1hr_above_200k_tokens",
        "cache_creation_input_token_cost_above_12hr_priority",
        "input_cost_per_token_cache_hit",
        "input_cost_per_token_ultrafast",
        "input_cost_per_token_above_k_tokens",
        "input_cost_per_token_above_2x_tokens",
        "input_dbu_cost_per_token",
        "search_context_cost_per_query",
    ] {
        assert_eq!(token_field(name), None, "{name}");
    }
}

#[test]
fn prices_are_read_exactly_from_their_text() {
    let price = parse_decimal("1.25e-07").expect("price");
    assert_eq!(price, Decimal::new(125, 9));
    assert_eq!(price.normalize().to_string(), "0.000000125");
    assert_eq!(parse_decimal("2.5E-6"), Ok(dec("0.0000025")));
    assert_eq!(parse_decimal("1e+2"), Ok(dec("100")));
    assert_eq!(parse_decimal("0.003"), Ok(dec("0.003")));
    assert_eq!(parse_decimal("0"), Ok(Decimal::ZERO));
    assert_eq!(
        parse_decimal("1.0000000000000001e-07"),
        Ok(dec("0.00000010000000000000001"))
    );
}

#[test]
fn a_long_price_keeps_digits_a_binary_float_would_round() {
    let text = "0.0000001234567890123456789";
    let exact = parse_decimal(text).expect("price");
    assert_eq!(exact.to_string(), text);
    let through_float = Decimal::try_from(text.parse::<f64>().expect("float")).expect("decimal");
    assert_ne!(
        through_float, exact,
        "an f64 cannot hold 19 significant digits"
    );
}

#[test]
fn values_that_are_not_exact_non_negative_numbers_are_refused() {
    assert!(matches!(
        parse_decimal("-1e-06"),
        Err(ValueError::Negative(_))
    ));
    assert!(matches!(
        parse_decimal("\"0.1\""),
        Err(ValueError::NotANumber(_))
    ));
    assert!(matches!(
        parse_decimal("{}"),
        Err(ValueError::NotANumber(_))
    ));
    assert!(matches!(
        parse_decimal("1e-40"),
        Err(ValueError::Unrepresentable(_))
    ));
    assert!(matches!(
        parse_decimal("0.123456789012345678901234567890123"),
        Err(ValueError::Unrepresentable(_))
    ));
}

const SMALL: &str = r#"{
  "sample_spec": {"litellm_provider": "one of", "mode": "chat", "input_cost_per_token": 0.0},
  "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06,
             "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
             "input_cost_per_token_batches": 1.25e-06, "input_cost_per_image": 0.01},
  "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
             "input_cost_per_token": 1.25e-06, "input_cost_per_token_above_200k_tokens": 2.5e-06,
             "input_cost_per_token_above_200k_tokens_priority": 4.5e-06,
             "input_cost_per_audio_token": 1e-06, "output_cost_per_token": 1e-05,
             "search_context_cost_per_query": {"search_context_size_low": 0.035}},
  "vertex_ai/Claude-Sonnet-4-5": {"litellm_provider": "vertex_ai-anthropic_models", "mode": "chat",
             "input_cost_per_token": 3e-06, "cache_creation_input_token_cost": 3.75e-06,
             "cache_creation_input_token_cost_above_1hr": 6e-06},
  "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation",
             "input_cost_per_image": 0.011},
  "azure_ai/mistral-ocr": {"litellm_provider": "Azure_AI ", "mode": "ocr", "ocr_cost_per_page": 0.001,
             "input_cost_per_token": 0.0},
  "assemblyai/best": {"litellm_provider": "assemblyai", "mode": "audio_transcription",
             "output_cost_per_second": 0.0, "input_cost_per_second": 3.333e-05},
  "free/search": {"litellm_provider": "free", "mode": "search", "input_cost_per_query": 0.0},
  "exa_ai/search": {"litellm_provider": "exa_ai", "mode": "search",
             "tiered_pricing": [{"input_cost_per_query": 0.005, "max_results_range": [0, 25]}]},
  "gpt-realtime": {"litellm_provider": "openai", "mode": "realtime", "input_cost_per_token": 4e-06},
  "no-provider": {"mode": "chat", "input_cost_per_token": 1e-06},
  "dashscope/qwen3-max": {"litellm_provider": "dashscope", "mode": "chat", "tiered_pricing": [
             {"input_cost_per_token": 1.2e-06, "range": [0, 32000.0]},
             {"input_cost_per_token": 2.4e-06, "output_cost_per_token": 1.2e-05, "range": [32000.0, 128000.0]}]},
  "deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 2.8e-07},
  "deepseek/deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 2.7e-07},
  "broken": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": -1e-06,
             "output_cost_per_token": "0.1", "cache_read_input_token_cost": 1e-07}
}"#;

#[test]
fn entries_are_keyed_by_provider_and_model_without_the_provider_prefix() {
    let catalog = parse(SMALL).expect("parses");
    let gemini = entry(&catalog, "gemini", "gemini-2.5-pro");
    assert_eq!(gemini.key, "gemini/gemini-2.5-pro");
    let claude = entry(&catalog, "vertex_ai-anthropic_models", "claude-sonnet-4-5");
    assert_eq!(claude.key, "vertex_ai/Claude-Sonnet-4-5");
    entry(&catalog, "openai", "low/1024-x-1024/gpt-image-1");
    entry(&catalog, "azure_ai", "mistral-ocr");
    assert!(
        !catalog
            .entries
            .iter()
            .any(|entry| entry.key == "sample_spec"),
        "litellm's documentation entry is not a model"
    );
    assert!(
        !catalog
            .entries
            .iter()
            .any(|entry| entry.key == "no-provider"),
        "an entry without a provider is left out"
    );
}

#[test]
fn token_entries_get_every_dimension_tier_and_threshold() {
    use Dimension::*;
    let catalog = parse(SMALL).expect("parses");
    let gpt = entry(&catalog, "openai", "gpt-4o");
    assert_eq!(price(gpt, Input, Tier::Standard, 0), Some(dec("0.0000025")));
    assert_eq!(price(gpt, Output, Tier::Standard, 0), Some(dec("0.00001")));
    assert_eq!(
        price(gpt, CachedInput, Tier::Standard, 0),
        Some(dec("0.00000125"))
    );
    assert_eq!(price(gpt, Input, Tier::Batch, 0), Some(dec("0.00000125")));
    assert_eq!(
        price(gpt, Unit, Tier::Standard, 0),
        None,
        "chat is priced per token only"
    );
    assert_eq!(gpt.prices.len(), 4);

    let gemini = entry(&catalog, "gemini", "gemini-2.5-pro");
    assert_eq!(
        price(gemini, Input, Tier::Standard, 200_000),
        Some(dec("0.0000025"))
    );
    assert_eq!(
        price(gemini, Input, Tier::Priority, 200_000),
        Some(dec("0.0000045"))
    );
    assert_eq!(gemini.prices.len(), 4, "audio tokens are not read");

    let claude = entry(&catalog, "vertex_ai-anthropic_models", "claude-sonnet-4-5");
    assert_eq!(
        price(claude, CacheCreation, Tier::Standard, 0),
        Some(dec("0.00000375")),
        "the five-minute cache write, not the one-hour one"
    );
    assert_eq!(claude.prices.len(), 2);
}

#[test]
fn input_size_tiers_become_long_context_rates() {
    use Dimension::*;
    let catalog = parse(SMALL).expect("parses");
    let qwen = entry(&catalog, "dashscope", "qwen3-max");
    assert_eq!(
        price(qwen, Input, Tier::Standard, 0),
        Some(dec("0.0000012"))
    );
    assert_eq!(
        price(qwen, Input, Tier::Standard, 32_000),
        Some(dec("0.0000024"))
    );
    assert_eq!(
        price(qwen, Output, Tier::Standard, 32_000),
        Some(dec("0.000012"))
    );
    assert_eq!(qwen.prices.len(), 3);
}

#[test]
fn other_services_get_one_unit_price_in_the_documented_order() {
    let catalog = parse(SMALL).expect("parses");
    let ocr = entry(&catalog, "azure_ai", "mistral-ocr");
    assert_eq!(ocr.unit, Some("page"));
    assert_eq!(
        ocr.prices,
        vec![CatalogPrice {
            dimension: Dimension::Unit,
            tier: Tier::Standard,
            min_input_tokens: 0,
            unit_price: dec("0.001"),
        }],
        "token prices of a non-token mode are not read"
    );
    let image = entry(&catalog, "openai", "low/1024-x-1024/gpt-image-1");
    assert_eq!(image.unit, Some("image"));
    let transcription = entry(&catalog, "assemblyai", "best");
    assert_eq!(transcription.unit, Some("second"));
    assert_eq!(
        price(transcription, Dimension::Unit, Tier::Standard, 0),
        Some(dec("0.00003333")),
        "a zero price gives way to a later non-zero one"
    );
    let free = entry(&catalog, "free", "search");
    assert_eq!(
        price(free, Dimension::Unit, Tier::Standard, 0),
        Some(Decimal::ZERO),
        "a free service keeps its zero price"
    );
    for missing in ["exa_ai/search", "gpt-realtime"] {
        assert!(
            !catalog.entries.iter().any(|entry| entry.key == missing),
            "{missing} has no price Tally reads"
        );
    }
}

#[test]
fn duplicate_keys_keep_the_prefixed_entry_and_are_reported() {
    let catalog = parse(SMALL).expect("parses");
    let deepseek = entry(&catalog, "deepseek", "deepseek-chat");
    assert_eq!(deepseek.key, "deepseek/deepseek-chat");
    assert_eq!(
        catalog.duplicates,
        vec![DuplicateKey {
            kept: "deepseek/deepseek-chat".to_owned(),
            skipped: "deepseek-chat".to_owned(),
            prices_differ: true,
        }]
    );
}

#[test]
fn prefixed_keys_are_the_only_model_aliases() {
    let catalog = parse(SMALL).expect("parses");
    let alias = |provider: &str, alias: &str, model: &str| ModelAlias {
        provider: provider.to_owned(),
        alias: alias.to_owned(),
        model: model.to_owned(),
    };
    assert_eq!(
        catalog.aliases,
        vec![
            alias("assemblyai", "assemblyai/best", "best"),
            alias("azure_ai", "azure_ai/mistral-ocr", "mistral-ocr"),
            alias("dashscope", "dashscope/qwen3-max", "qwen3-max"),
            alias("deepseek", "deepseek/deepseek-chat", "deepseek-chat"),
            alias("free", "free/search", "search"),
            alias("gemini", "gemini/gemini-2.5-pro", "gemini-2.5-pro"),
            alias(
                "vertex_ai-anthropic_models",
                "vertex_ai/claude-sonnet-4-5",
                "claude-sonnet-4-5"
            ),
        ]
    );
}

#[test]
fn unreadable_values_are_reported_and_the_rest_of_the_entry_kept() {
    let catalog = parse(SMALL).expect("parses");
    let broken = entry(&catalog, "openai", "broken");
    assert_eq!(broken.prices.len(), 1);
    assert_eq!(catalog.problems.len(), 2, "{:#?}", catalog.problems);
    assert!(catalog.problems[0].starts_with("broken: input_cost_per_token: negative"));
    assert!(catalog.problems[1].starts_with("broken: output_cost_per_token: not a number"));
}

#[test]
fn a_file_that_is_not_an_object_is_refused() {
    assert!(matches!(parse("[]"), Err(CatalogError::NotAnObject)));
    assert!(matches!(parse("{"), Err(CatalogError::NotAnObject)));
    assert_eq!(parse("{}").expect("empty").entries.len(), 0);
}

#[test]
fn every_provider_of_the_catalog_gets_its_convention() {
    let catalog = parse(SMALL).expect("parses");
    let of = |provider: &str| {
        catalog
            .conventions
            .iter()
            .find(|item| item.provider == provider)
            .map(|item| item.convention)
    };
    assert_eq!(of("openai"), Some(Convention::OPENAI));
    assert_eq!(of("deepseek"), Some(Convention::OPENAI));
    assert_eq!(of("gemini"), Some(GEMINI_STYLE));
    assert_eq!(
        of("vertex_ai-anthropic_models"),
        Some(Convention::ANTHROPIC)
    );
    assert_eq!(of("assemblyai"), Some(Convention::OPENAI), "the default");
    let providers: std::collections::BTreeSet<_> = catalog
        .entries
        .iter()
        .map(|entry| &entry.provider)
        .collect();
    assert_eq!(catalog.conventions.len(), providers.len());
}

#[test]
fn the_convention_table_says_what_counts_include() {
    assert_eq!(convention_of("anthropic"), Convention::ANTHROPIC);
    assert_eq!(convention_of("bedrock_converse"), Convention::ANTHROPIC);
    assert_eq!(convention_of("azure"), Convention::OPENAI);
    assert_eq!(convention_of("vertex_ai-language-models"), GEMINI_STYLE);
    assert_eq!(convention_of("xai"), GEMINI_STYLE);
    assert_eq!(convention_of("not-a-provider"), Convention::OPENAI);
    const { assert!(GEMINI_STYLE.cached_input_in_input && !GEMINI_STYLE.reasoning_in_output) };
    for rule in PROVIDER_RULES {
        assert_eq!(rule.provider, normalize_name(rule.provider));
        assert!(!rule.reason.is_empty(), "{} needs a reason", rule.provider);
    }
}

#[test]
fn provider_names_callers_send_resolve_to_catalog_providers() {
    assert_eq!(provider_alias("Google"), Some("gemini"));
    assert_eq!(provider_alias(" aws "), Some("bedrock"));
    assert_eq!(provider_alias("Azure-OpenAI"), Some("azure"));
    assert_eq!(provider_alias("vertex"), Some("vertex_ai"));
    assert_eq!(provider_alias("openai"), None);
    let catalog = parse(EMBEDDED).expect("embedded catalog parses");
    for (alias, target) in PROVIDER_ALIASES {
        assert!(
            catalog
                .conventions
                .iter()
                .any(|item| item.provider == *target),
            "{alias} names {target}, which the shipped catalog lacks"
        );
        assert!(
            !catalog
                .conventions
                .iter()
                .any(|item| item.provider == *alias),
            "{alias} is itself a catalog provider"
        );
    }
}

#[test]
fn the_key_prefix_is_removed_only_when_it_names_the_provider() {
    assert_eq!(
        model_of("gemini/gemini-2.5-pro", "gemini"),
        ("gemini-2.5-pro", true)
    );
    assert_eq!(
        model_of("vertex_ai/claude-sonnet-4-5", "vertex_ai-anthropic_models"),
        ("claude-sonnet-4-5", true)
    );
    assert_eq!(
        model_of("amazon-nova/nova-pro-v1", "amazon_nova"),
        ("nova-pro-v1", true)
    );
    assert_eq!(
        model_of("together_ai/meta-llama/Llama-3-70b", "together_ai"),
        ("meta-llama/Llama-3-70b", true)
    );
    assert_eq!(model_of("gpt-4o", "openai"), ("gpt-4o", false));
    assert_eq!(
        model_of("low/1024-x-1024/gpt-image-1", "openai"),
        ("low/1024-x-1024/gpt-image-1", false)
    );
    assert_eq!(model_of("openai/", "openai"), ("openai/", false));
    assert_eq!(model_of("open/x", "openai"), ("open/x", false));
}

#[test]
fn derive_keeps_only_read_fields_with_their_exact_text() {
    let derived = derive(SMALL).expect("derives");
    let gpt_line = derived
        .json
        .lines()
        .find(|line| line.contains("\"gpt-4o\""))
        .expect("gpt-4o kept");
    assert_eq!(
        gpt_line,
        r#"  "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "input_cost_per_token_batches": 1.25e-06},"#
    );
    assert!(
        derived.json.contains(
            r#""tiered_pricing": [{"input_cost_per_token": 1.2e-06, "range": [0, 32000.0]}, "#
        ),
        "{}",
        derived.json
    );
    assert!(!derived.json.contains("sample_spec") && !derived.json.contains("exa_ai"));
    assert_eq!(
        parse(&derived.json).expect("derived parses").entries,
        parse(SMALL).expect("source parses").entries,
        "the derived file prices exactly what the source does"
    );
}

#[test]
fn the_shipped_catalog_is_its_own_derivation() {
    let derived = derive(EMBEDDED).expect("derives");
    assert!(
        derived.json == EMBEDDED,
        "catalog/litellm_prices.json is not what `tally prices derive` writes; re-derive it"
    );
    assert_eq!(derived.skipped, 0);
    let catalog = parse(EMBEDDED).expect("parses");
    assert!(catalog.problems.is_empty(), "{:#?}", catalog.problems);
}

proptest! {
    #[test]
    fn scientific_notation_is_read_exactly(mantissa in 1u64..10_000_000_000, exponent in 0u32..18) {
        let text = format!("{mantissa}e-{exponent}");
        prop_assert_eq!(parse_decimal(&text), Ok(Decimal::new(mantissa as i64, exponent)));
        // The same value with one digit before the point: 12345e-7 is 1.2345E-3.
        let digits = mantissa.to_string();
        let (head, tail) = digits.split_at(1);
        let power = tail.len() as i64 - i64::from(exponent);
        let shifted = if tail.is_empty() {
            format!("{head}E{power}")
        } else {
            format!("{head}.{tail}E{power}")
        };
        let expected = Decimal::new(mantissa as i64, exponent);
        prop_assert_eq!(parse_decimal(&shifted), Ok(expected));
    }
}
