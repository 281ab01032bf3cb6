"""Small vocabularies the generator draws from: countries and zones, names, marketing sources, pages.

Why separate: these lists are the "look" of the data; keeping them out of the generating code keeps that
code about structure and probabilities only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Country:
    code: str
    share: float
    is_eu: bool
    currency: str
    zones: tuple[tuple[str, float], ...]
    phone_prefix: str
    phone_digits: int  # digits after the prefix
    email_domains: tuple[str, ...] = ()  # local providers, used for a third of the addresses


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        0.31,
        False,
        "USD",
        (
            ("America/New_York", 0.45),
            ("America/Chicago", 0.25),
            ("America/Denver", 0.08),
            ("America/Los_Angeles", 0.22),
        ),
        "+1",
        10,
        ("comcast.net", "att.net"),
    ),
    Country("GB", 0.10, False, "GBP", (("Europe/London", 1.0),), "+447", 9, ("btinternet.com", "sky.com")),
    Country(
        "CA",
        0.09,
        False,
        "USD",
        (("America/Toronto", 0.6), ("America/Vancouver", 0.4)),
        "+1",
        10,
        ("rogers.com", "shaw.ca"),
    ),
    Country(
        "AU",
        0.08,
        False,
        "USD",
        (("Australia/Sydney", 0.7), ("Australia/Perth", 0.3)),
        "+614",
        8,
        ("bigpond.com", "optusnet.com.au"),
    ),
    Country("NZ", 0.02, False, "USD", (("Pacific/Auckland", 1.0),), "+642", 8, ("xtra.co.nz",)),
    Country("DE", 0.11, True, "EUR", (("Europe/Berlin", 1.0),), "+4915", 9, ("web.de", "gmx.de", "t-online.de")),
    Country("FR", 0.08, True, "EUR", (("Europe/Paris", 1.0),), "+336", 8, ("orange.fr", "free.fr", "laposte.net")),
    Country("NL", 0.04, True, "EUR", (("Europe/Amsterdam", 1.0),), "+316", 8, ("ziggo.nl", "kpnmail.nl")),
    Country("ES", 0.05, True, "EUR", (("Europe/Madrid", 1.0),), "+346", 8, ("telefonica.net",)),
    Country("IT", 0.05, True, "EUR", (("Europe/Rome", 1.0),), "+393", 9, ("libero.it", "virgilio.it")),
    Country("IE", 0.02, True, "EUR", (("Europe/Dublin", 1.0),), "+3538", 8, ("eircom.net",)),
    Country("SE", 0.02, True, "EUR", (("Europe/Stockholm", 1.0),), "+467", 8, ("telia.com",)),
    Country("PL", 0.03, True, "EUR", (("Europe/Warsaw", 1.0),), "+48", 9, ("wp.pl", "onet.pl")),
)
COUNTRY_SHARES = np.array([c.share for c in COUNTRIES]) / sum(c.share for c in COUNTRIES)
ZONES: tuple[str, ...] = tuple(sorted({zone for c in COUNTRIES for zone, _ in c.zones}))
CURRENCIES = ("EUR", "USD", "GBP")

FIRST_NAMES = (
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Amelia",
    "Harper",
    "Evelyn",
    "Abigail",
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Theodore",
    "Hannah",
    "Lena",
    "Lea",
    "Marie",
    "Emilia",
    "Leon",
    "Paul",
    "Finn",
    "Jonas",
    "Felix",
    "Louise",
    "Chloe",
    "Camille",
    "Manon",
    "Jules",
    "Hugo",
    "Arthur",
    "Louis",
    "Gabriel",
    "Raphael",
    "Sofia",
    "Giulia",
    "Aurora",
    "Alice",
    "Lorenzo",
    "Leonardo",
    "Francesco",
    "Matteo",
    "Lucia",
    "Martina",
    "Daan",
    "Sem",
    "Julia",
    "Tess",
    "Saar",
    "Noor",
    "Aoife",
    "Saoirse",
    "Conor",
    "Oisin",
    "Maja",
    "Elsa",
    "Alva",
    "Wilma",
    "Zuzanna",
    "Jakub",
    "Antoni",
    "Charlotte",
    "Jack",
    "Grace",
    "Ethan",
    "Aiden",
    "Zoe",
    "Ruby",
    "Isla",
    "Archie",
    "Freddie",
    "Poppy",
    "Mason",
    "Logan",
)
GLOBAL_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me")
GLOBAL_EMAIL_WEIGHTS = np.array([0.45, 0.15, 0.10, 0.15, 0.10, 0.05])

# Marketing parameters per channel: (utm_source, utm_medium, referrer, weight within the channel).
UTM_PROFILES: dict[str, tuple[tuple[str | None, str | None, str | None, float], ...]] = {
    "paid_search": (
        ("google", "cpc", "https://www.google.com/", 0.8),
        ("bing", "cpc", "https://www.bing.com/", 0.2),
    ),
    "paid_social": (
        ("facebook", "paid_social", "https://m.facebook.com/", 0.45),
        ("instagram", "paid_social", "https://l.instagram.com/", 0.35),
        ("tiktok", "paid_social", "https://www.tiktok.com/", 0.20),
    ),
    "affiliate": (
        ("awin", "affiliate", "https://www.dealfinder.example/", 0.4),
        ("rakuten", "affiliate", "https://www.cashbackworld.example/", 0.35),
        ("cj", "affiliate", "https://www.couponcorner.example/", 0.25),
    ),
    "organic": (
        (None, None, "https://www.google.com/", 0.70),
        (None, None, "https://www.bing.com/", 0.12),
        (None, None, "https://duckduckgo.com/", 0.10),
        (None, None, "https://search.yahoo.com/", 0.03),
        (None, None, "https://www.ecosia.org/", 0.05),
    ),
    "referral": (
        (None, None, "https://www.reddit.com/r/BuyItForLife/", 0.30),
        (None, None, "https://www.pinterest.com/", 0.25),
        (None, None, "https://www.wirecutter.example/reviews/best-everyday-gear/", 0.20),
        (None, None, "https://blog.homeandhearth.example/gift-ideas", 0.15),
        (None, None, "https://news.ycombinator.com/", 0.10),
    ),
    "direct": ((None, None, None, 1.0),),
}
UTM_CAMPAIGNS = {
    "paid_search": ("brand_search", "generic_search", "shopping_feed", "competitor_terms"),
    "paid_social": ("prospecting_lookalike", "retargeting_dynamic", "ugc_video", "seasonal_promo"),
    "affiliate": ("partner_1042", "partner_2210", "partner_3307"),
}
EMAIL_UTM_SOURCES = ("newsletter", "journey")

GENERAL_PAGES = (
    "/",
    "/sale",
    "/new-arrivals",
    "/gift-guide",
    "/plus",
    "/account",
    "/account/orders",
    "/help/shipping",
    "/help/returns",
    "/stores",
    "/search?q=sweater",
    "/search?q=running+shoes",
    "/search?q=mug",
    "/search?q=gift",
    "/blog/care-guide-merino",
    "/blog/packing-list",
    "/blog/kitchen-essentials",
)
GENERAL_PAGE_WEIGHTS = np.array([8, 4, 3, 1, 2, 2, 1, 1, 1, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5])
GENERAL_PAGE_WEIGHTS = GENERAL_PAGE_WEIGHTS / GENERAL_PAGE_WEIGHTS.sum()
CART_PAGE = "/cart"
CHECKOUT_PAGE = "/checkout"
CONFIRMATION_PAGE = "/checkout/confirmation"
LOGIN_PAGE = "/login"
EMAIL_LANDING_PAGES = ("/sale", "/new-arrivals", "/plus", "/")

FEATURES = ("free_shipping", "member_prices", "early_access", "wishlist_alerts", "returns_portal", "style_advice_chat")
JOURNEY_CAMPAIGNS = {
    "email": ("welcome_series", "browse_abandonment", "cart_reminder", "winback", "renewal_reminder"),
    "sms": ("cart_reminder_sms", "delivery_update_promo"),
    "push": ("back_in_stock", "price_drop", "cart_reminder_push"),
}
# Newsletter schedules: (weekdays Monday=0, UTC hour, name stem).
NEWSLETTER_SCHEDULE = {
    "email": ((1, 4), 8, "newsletter"),
    "sms": ((3,), 16, "sms_flash_sale"),
    "push": ((5,), 10, "push_weekend_picks"),
}
