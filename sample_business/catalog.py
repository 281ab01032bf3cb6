"""The product catalogue: ~200 products in a handful of categories, plus the Northwind Plus plans.

Why its own module: every chunk of customers buys from the same catalogue, so it is built once (from its
own random stream) and shared; web sessions draw products by a fixed Zipf-like popularity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.clock import DAY, MINUTE
from sample_business.effects import PLANS

N_REGULAR_PRODUCTS = 197
PLAN_NAMES = {"basic": "Northwind Plus Basic", "plus": "Northwind Plus", "pro": "Northwind Plus Pro"}

# category: (adjectives, nouns, (min price, max price) in USD)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[float, float]]] = {
    "apparel": (
        ("Merino", "Organic Cotton", "Linen", "Recycled", "Classic", "Relaxed", "Brushed"),
        ("Crew Sweater", "Oxford Shirt", "T-Shirt", "Hoodie", "Chinos", "Rain Jacket", "Cardigan"),
        (18, 160),
    ),
    "footwear": (
        ("Everyday", "Trail", "Suede", "Canvas", "Waterproof", "Lightweight"),
        ("Sneakers", "Running Shoes", "Chelsea Boots", "Loafers", "Slippers", "Sandals"),
        (35, 190),
    ),
    "home": (
        ("Stonewashed", "Waffle", "Wool", "Ceramic", "Oak", "Linen"),
        ("Throw Blanket", "Bath Towel Set", "Table Lamp", "Cushion Cover", "Duvet Cover", "Vase"),
        (15, 220),
    ),
    "kitchen": (
        ("Cast Iron", "Stoneware", "Enamel", "Bamboo", "Copper", "Glass"),
        ("Skillet", "Mug Set", "Dutch Oven", "Cutting Board", "Pour-Over Kettle", "Storage Jars"),
        (12, 180),
    ),
    "beauty": (
        ("Hydrating", "Calming", "Daily", "Overnight", "Botanical"),
        ("Face Cream", "Hand Balm", "Cleanser", "Body Oil", "Lip Care Trio"),
        (8, 60),
    ),
    "outdoor": (
        ("Packable", "Insulated", "Ultralight", "Rugged", "Trail"),
        ("Daypack", "Water Bottle", "Camp Chair", "Headlamp", "Picnic Blanket", "Thermos"),
        (14, 150),
    ),
    "accessories": (
        ("Leather", "Knit", "Canvas", "Silk", "Recycled"),
        ("Tote Bag", "Beanie", "Scarf", "Wallet", "Belt", "Gloves"),
        (12, 120),
    ),
}


@dataclass(frozen=True)
class Catalog:
    table: pa.Table  # the products rows (received_at included), all valid
    product_ids: pa.StringArray
    regular_count: int  # products 0..regular_count-1 are regular, then the plans in PLANS order
    price_cents: np.ndarray  # USD cents per product
    popularity_cdf: np.ndarray  # cumulative purchase/view probability over regular products
    product_pages: pa.StringArray  # '/products/<slug>' per product

    def plan_index(self, plan: str) -> int:
        return self.regular_count + list(PLANS).index(plan)

    def draw_products(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.searchsorted(self.popularity_cdf, rng.random(n), side="right").astype(np.int32)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _charm_price(rng: np.random.Generator, low: float, high: float) -> int:
    """A price in cents ending in .99 or .00, log-uniform in [low, high]."""
    dollars = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    return dollars * 100 - (1 if rng.random() < 0.7 else 0)


def build_catalog(rng: np.random.Generator, period_start: int) -> Catalog:
    """Regular products (unique adjective+noun names, spread over the categories), then the three plans."""
    names, categories, prices = [], [], []
    per_category = -(-N_REGULAR_PRODUCTS // len(CATEGORIES))
    for category, (adjectives, nouns, (low, high)) in CATEGORIES.items():
        combos = [f"{a} {n}" for a in adjectives for n in nouns]
        for i in rng.permutation(len(combos))[:per_category]:
            names.append(combos[i])
            categories.append(category)
            prices.append(_charm_price(rng, low, high))
    order = rng.permutation(len(names))[:N_REGULAR_PRODUCTS]
    names = [names[i] for i in order]
    categories = [categories[i] for i in order]
    prices = [prices[i] for i in order]
    for plan, cents in PLANS.items():
        names.append(f"{PLAN_NAMES[plan]} (monthly)")
        categories.append("subscription")
        prices.append(cents)

    n = len(names)
    price_cents = np.array(prices, dtype=np.int64)
    updated_at = period_start - rng.integers(1, 120, size=n) * DAY - rng.integers(0, DAY, size=n)
    received_at = updated_at + rng.integers(1, 30, size=n) * MINUTE
    product_ids = col.format_ids("prd_", np.arange(1, n + 1), width=5)
    table = pa.table(
        {
            "product_id": product_ids,
            "product_name": col.vocab(names),
            "category": col.vocab(categories),
            "price": col.money(price_cents),
            "is_subscription": pa.array([c == "subscription" for c in categories]),
            "updated_at": col.timestamps(updated_at),
            "received_at": col.timestamps(received_at),
        }
    )
    popularity = 1.0 / np.arange(1, N_REGULAR_PRODUCTS + 1) ** 0.8
    popularity = popularity[rng.permutation(N_REGULAR_PRODUCTS)]
    cdf = np.cumsum(popularity / popularity.sum())
    cdf[-1] = 1.0
    pages = col.vocab([f"/products/{_slug(name)}" for name in names])
    return Catalog(table, product_ids, N_REGULAR_PRODUCTS, price_cents, cdf, pages)
