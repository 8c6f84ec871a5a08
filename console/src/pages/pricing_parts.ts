// Words for prices (dimensions, tiers, sources) and the catalog search both the prices page and
// the needs-attention page's "Map to" use.
import { api } from "../api";
import { CostDimension, ServiceTier } from "../gen/tally/v1/common_pb";
import { PriceSource, type Price } from "../gen/tally/v1/pricing_pb";

/** The price dimensions, in `CostDimension` order, with the names used in URLs and `data-*`. */
export const DIMENSIONS: [CostDimension, string, string][] = [
  [CostDimension.INPUT, "input", "Input"],
  [CostDimension.OUTPUT, "output", "Output"],
  [CostDimension.CACHED_INPUT, "cached_input", "Cached input"],
  [CostDimension.CACHE_CREATION, "cache_creation", "Cache creation"],
  [CostDimension.REASONING, "reasoning", "Reasoning"],
  [CostDimension.UNIT, "unit", "Unit"],
];

export const TIERS: [ServiceTier, string, string][] = [
  [ServiceTier.STANDARD, "standard", "Standard"],
  [ServiceTier.BATCH, "batch", "Batch"],
  [ServiceTier.FLEX, "flex", "Flex"],
  [ServiceTier.PRIORITY, "priority", "Priority"],
];

export function dimensionName(dimension: CostDimension): string {
  return DIMENSIONS.find(([value]) => value === dimension)?.[1] ?? CostDimension[dimension]?.toLowerCase() ?? String(dimension);
}

export function dimensionLabel(dimension: CostDimension): string {
  return DIMENSIONS.find(([value]) => value === dimension)?.[2] ?? dimensionName(dimension);
}

/** "standard" for unspecified too: a price or call without a tier is the standard tier's. */
export function tierName(tier: ServiceTier): string {
  if (tier === ServiceTier.UNSPECIFIED) return "standard";
  return TIERS.find(([value]) => value === tier)?.[1] ?? String(tier);
}

export function sourceName(source: PriceSource): string {
  return source === PriceSource.PROJECT ? "project" : source === PriceSource.CATALOG ? "catalog" : "unknown";
}

/**
 * A search as typed: "openai/gpt-4o" is a provider and a model prefix, "openai/" a provider, and
 * a word without a slash a model prefix (the API filters by provider and by model prefix only).
 */
export function parseCatalogQuery(query: string): { provider: string; modelPrefix: string } {
  const text = query.trim();
  const slash = text.indexOf("/");
  if (slash < 0) return { provider: "", modelPrefix: text };
  return { provider: text.slice(0, slash).trim(), modelPrefix: text.slice(slash + 1).trim() };
}

export interface CatalogModel {
  provider: string;
  model: string;
  sources: PriceSource[];
}

/**
 * The distinct provider/models with prices that match a search, for picking a mapping target: a
 * word without a slash matches a model prefix or a provider's name (two calls, merged).
 */
export async function searchModels(query: string): Promise<CatalogModel[]> {
  const parsed = parseCatalogQuery(query);
  const requests = [parsed];
  if (!query.includes("/") && parsed.modelPrefix) requests.push({ provider: parsed.modelPrefix, modelPrefix: "" });
  const answers = await Promise.all(requests.map((filters) => api.pricing.listPrices({ ...filters, pageSize: 1000 })));
  return distinctModels(answers.flatMap((answer) => answer.prices));
}

/** The provider/models of some price rows, in provider and model order, with their sources. */
export function distinctModels(prices: Price[]): CatalogModel[] {
  const models = new Map<string, CatalogModel>();
  for (const price of prices) {
    const key = `${price.provider}/${price.model}`;
    const model = models.get(key) ?? { provider: price.provider, model: price.model, sources: [] };
    if (!model.sources.includes(price.source)) model.sources.push(price.source);
    models.set(key, model);
  }
  return [...models.values()].sort((a, b) => (a.provider + "/" + a.model < b.provider + "/" + b.model ? -1 : 1));
}
