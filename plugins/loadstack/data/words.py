"""Word pools of the synthetic commerce data: fictional names, RFC 2606 domains, documentation IP ranges.

Only data: changing a pool changes the generated rows (bump GENERATOR_VERSION in `params`).
"""

from __future__ import annotations

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Mia Lucas Zoë José Ana Mateo Léa Chloé Hugo "
    "Aarav Priya Wei Mei Yuki Haruto Fatima Omar Amara Kwame Ingrid Lars Søren Marta Piotr Olga Ivan "
    "Sean Siobhan Camila Diego Valentina Noor Layla Ethan Ava Isabella James Charlotte Henry Grace"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martínez López Müller Schmidt O'Brien "
    "Nguyen Kim Park Chen Wang Tanaka Sato Kowalski Nowak Ivanova Rossi Bianchi Dubois Lefèvre "
    "Andersson Johansson Okafor Mensah Haddad Khan Patel Singh Silva Santos Cohen Levi Murphy Kelly"
).split()
ASCII_FOLD = str.maketrans("ëéèêáàâäíïóöôøúüñç'", "eeeeaaaaiioooouunc-")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
COUNTRIES = ("US",) * 8 + ("GB",) * 3 + ("DE", "DE", "FR", "FR", "CA", "CA", "AU", "NL", "ES", "IT", "SE", "JP", "BR", "IN", "MX", "PL")
PLANS = ("free",) * 5 + ("growth",) * 3 + ("pro", "pro", "enterprise")
CURRENCIES = ("USD",) * 6 + ("EUR", "EUR", "GBP", "CAD", "AUD")
TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Europe/Paris", "Australia/Sydney", "Asia/Tokyo")
COMPANY_WORDS = (
    "Acme Northwind Blue Harbor Cedar Summit Golden Maple Urban Wild Oak Bright Lantern Copper Fox "
    "River Stone Lunar Peak Little Fern Salt Pine Velvet Moon Iron Sparrow"
).split()
COMPANY_SUFFIXES = ("Outfitters", "Goods", "Co.", "Supply", "Apparel", "Home", "Market", "Studio", "Collective", "& Sons")
ADJECTIVES = "Organic Classic Vintage Everyday Premium Lightweight Merino Recycled Handmade Slim Cozy Waterproof Linen Ceramic Bamboo".split()
NOUNS = {
    "apparel": "Tee Hoodie Jacket Scarf Beanie Socks Jeans Dress Sweater Shorts".split(),
    "home": "Mug Candle Throw Pillow Planter Vase Lamp Rug Towel Teapot".split(),
    "beauty": "Serum Cleanser Balm Lotion Shampoo Soap Mask Toner".split(),
    "outdoor": "Backpack Bottle Tent Lantern Hammock Jacket Boots Cap".split(),
    "kitchen": "Knife Skillet Grinder Board Kettle Whisk Apron Tumbler".split(),
}
CATEGORIES = tuple(NOUNS)
COLORS = ("Black", "White", "Navy", "Sage", "Rust", "Oat", "Charcoal", "Sky", "Olive", "Sand")
PAGE_PATHS = (
    "/", "/collections/new", "/collections/sale", "/collections/bestsellers", "/pages/about",
    "/pages/shipping", "/pages/returns", "/blogs/journal", "/search?q=gift", "/search?q=sale",
    "/account", "/cart", "/collections/gifts-under-50", "/pages/faq", "/pages/size-guide",
)
PAGE_TITLES = {
    "/": "Home", "/cart": "Your cart", "/account": "Your account", "/pages/faq": "FAQ",
    "/pages/about": "Our story", "/pages/shipping": "Shipping", "/pages/returns": "Returns & exchanges",
    "/pages/size-guide": "Size guide", "/blogs/journal": "Journal",
}
REFERRERS = (
    None, None, None,  # direct visits
    "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
    "https://duckduckgo.com/", "https://www.facebook.com/", "https://www.instagram.com/",
    "https://t.co/", "https://www.pinterest.com/", "https://newsletter.example.com/",
)
USER_AGENTS = (
    ("Gmail", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    ("Gmail", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36"),
    ("Apple Mail", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"),
    ("Apple Mail", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"),
    ("Outlook", "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
    ("Outlook", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"),
    ("Yahoo Mail", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("Samsung Email", "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"),
    ("Image proxy", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"),
    ("Thunderbird", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"),
)
SUBJECTS = (
    "New arrivals are here", "Last chance: 20% off ends tonight", "You left something behind",
    "Our bestsellers, restocked", "A little thank-you 🎁", "Free shipping this weekend",
    "Meet the new collection", "Your order has shipped", "Weekend reads from the journal",
    "Back in stock: your wishlist", "¡Nuevas llegadas!", "Nouveautés de la semaine",
)
LIST_NAMES = ("newsletter", "vip", "winback", "browse-abandonment", "cart-abandonment", "post-purchase")
DISCOUNT_CODES = (None,) * 7 + ("WELCOME10", "VIP20", "FREESHIP")
ORDER_STATUSES = ("fulfilled",) * 16 + ("pending", "pending", "cancelled", "refunded")
SIGNUP_SOURCES = ("checkout", "popup", "footer_form", "import", "landing_page", "quiz")
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")  # RFC 5737 documentation ranges


def fold(text: str) -> str:
    """Lower-case ASCII for e-mail addresses, slugs and URLs: "Zoë O'Brien" -> "zoe o-brien"."""
    return text.lower().translate(ASCII_FOLD)
