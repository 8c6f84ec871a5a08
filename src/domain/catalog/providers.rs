//! What each provider's reported token counts include, the provider names callers send for the
//! catalog's providers, and how a litellm key names its model.

use crate::domain::pricing::Convention;

/// Gemini style: cached input inside input (`cachedContentTokenCount` is part of
/// `promptTokenCount`), reasoning reported apart from output (`thoughtsTokenCount` is not part of
/// `candidatesTokenCount`). Reasoning with no REASONING price is billed at the OUTPUT rate.
pub const GEMINI_STYLE: Convention = Convention {
    cached_input_in_input: true,
    cache_creation_in_input: false,
    reasoning_in_output: false,
};

/// A provider whose counts are not OpenAI style (the default), or an OpenAI-style provider named
/// so that the table says where each of the brief's providers stands.
pub struct ProviderRule {
    pub provider: &'static str,
    pub convention: Convention,
    pub reason: &'static str,
}

const fn rule(
    provider: &'static str,
    convention: Convention,
    reason: &'static str,
) -> ProviderRule {
    ProviderRule {
        provider,
        convention,
        reason,
    }
}

const OPENAI_API: &str = "OpenAI-compatible usage: prompt_tokens include cached_tokens, completion_tokens include reasoning_tokens";
const ANTHROPIC_API: &str = "Anthropic Messages usage: input_tokens exclude cache_read_input_tokens and \
     cache_creation_input_tokens; thinking is inside output_tokens";
const BEDROCK_API: &str = "Bedrock Converse usage: inputTokens exclude cacheReadInputTokens and \
     cacheWriteInputTokens (Claude and Nova alike); reasoning is inside outputTokens";
const GEMINI_API: &str = "Gemini usageMetadata: promptTokenCount includes cachedContentTokenCount; \
     thoughtsTokenCount is apart from candidatesTokenCount";
const VERTEX_PARTNER_API: &str =
    "partner models on Vertex AI answer through its OpenAI-compatible chat completions endpoint";

/// Providers' conventions, with the reason. A provider not listed is OpenAI style: most APIs in the
/// catalog (Together, Fireworks, DeepInfra, Perplexity, OpenRouter, Vercel, Databricks, …) answer
/// with OpenAI's `usage` object.
pub const PROVIDER_RULES: &[ProviderRule] = &[
    rule("openai", Convention::OPENAI, OPENAI_API),
    rule("azure", Convention::OPENAI, OPENAI_API),
    rule("azure_text", Convention::OPENAI, OPENAI_API),
    rule("text-completion-openai", Convention::OPENAI, OPENAI_API),
    rule(
        "deepseek",
        Convention::OPENAI,
        "prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens; reasoning inside completion_tokens",
    ),
    rule("groq", Convention::OPENAI, OPENAI_API),
    rule("mistral", Convention::OPENAI, OPENAI_API),
    rule("codestral", Convention::OPENAI, OPENAI_API),
    rule("text-completion-codestral", Convention::OPENAI, OPENAI_API),
    rule("openrouter", Convention::OPENAI, OPENAI_API),
    rule(
        "xai",
        GEMINI_STYLE,
        "prompt_tokens include cached_tokens, but completion_tokens exclude reasoning_tokens \
         (total_tokens = prompt + completion + reasoning)",
    ),
    rule("anthropic", Convention::ANTHROPIC, ANTHROPIC_API),
    rule(
        "vertex_ai-anthropic_models",
        Convention::ANTHROPIC,
        "Claude on Vertex AI answers with the Anthropic Messages usage",
    ),
    rule("bedrock", Convention::ANTHROPIC, BEDROCK_API),
    rule("bedrock_converse", Convention::ANTHROPIC, BEDROCK_API),
    rule("gemini", GEMINI_STYLE, GEMINI_API),
    rule(
        "vertex_ai",
        GEMINI_STYLE,
        "Gemini on Vertex AI (same usageMetadata); its Grok models also report reasoning_tokens \
         apart from completion_tokens",
    ),
    rule("vertex_ai-language-models", GEMINI_STYLE, GEMINI_API),
    rule("vertex_ai-embedding-models", GEMINI_STYLE, GEMINI_API),
    rule("vertex_ai-text-models", GEMINI_STYLE, GEMINI_API),
    rule("vertex_ai-video-models", GEMINI_STYLE, GEMINI_API),
    rule(
        "vertex_ai-ai21_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-deepseek_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-llama_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-minimax_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-mistral_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-moonshot_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-openai_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-qwen_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
    rule(
        "vertex_ai-zai_models",
        Convention::OPENAI,
        VERTEX_PARTNER_API,
    ),
];

/// The convention of a catalog provider (normalized name); OpenAI style when the table does not
/// name it.
pub fn convention_of(provider: &str) -> Convention {
    PROVIDER_RULES
        .iter()
        .find(|rule| rule.provider == provider)
        .map_or(Convention::OPENAI, |rule| rule.convention)
}

/// Names callers send for a catalog provider, with `-` read as `_`. Each names one API without
/// doubt; `google` is the Gemini API (Vertex AI callers say `vertex_ai` or `vertex`).
pub const PROVIDER_ALIASES: &[(&str, &str)] = &[
    ("google", "gemini"),
    ("google_ai_studio", "gemini"),
    ("aws", "bedrock"),
    ("amazon", "bedrock"),
    ("aws_bedrock", "bedrock"),
    ("amazon_bedrock", "bedrock"),
    ("azure_openai", "azure"),
    ("vertex", "vertex_ai"),
    ("vertexai", "vertex_ai"),
    ("google_vertex", "vertex_ai"),
    ("google_vertex_ai", "vertex_ai"),
    ("together", "together_ai"),
    ("fireworks", "fireworks_ai"),
    ("mistralai", "mistral"),
    ("x_ai", "xai"),
];

/// The catalog provider a caller means by a provider name that is not itself in the catalog
/// (`google` → `gemini`, `Azure-OpenAI` → `azure`). Look the name up as sent first: a catalog
/// provider is never aliased.
pub fn provider_alias(provider: &str) -> Option<&'static str> {
    let provider = provider.trim().to_lowercase().replace('-', "_");
    PROVIDER_ALIASES
        .iter()
        .find(|(alias, _)| *alias == provider)
        .map(|(_, target)| *target)
}

/// The model a litellm key names: the key without its first path segment when that segment names
/// the entry's provider (`gemini/gemini-2.5-pro` of `gemini`, `vertex_ai/claude-sonnet-4-5` of
/// `vertex_ai-anthropic_models`, `amazon-nova/nova-pro-v1` of `amazon_nova`), else the whole key
/// (`low/1024-x-1024/gpt-image-1` of `openai`). The second value is true when a prefix was removed.
pub fn model_of<'k>(key: &'k str, provider: &str) -> (&'k str, bool) {
    let Some((prefix, rest)) = key.split_once('/') else {
        return (key, false);
    };
    let prefix = prefix.trim().to_lowercase().replace('-', "_");
    let provider = provider.trim().to_lowercase().replace('-', "_");
    let names_provider = !prefix.is_empty()
        && (provider == prefix
            || provider
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('_')));
    if names_provider && !rest.trim().is_empty() {
        (rest, true)
    } else {
        (key, false)
    }
}
