from __future__ import annotations

from loadstack.data.words import EMAIL_DOMAINS, FIRST_NAMES, IP_PREFIXES, LAST_NAMES, REFERRERS, fold


def test_fold_gives_ascii_for_addresses_and_slugs():
    assert fold("Zoë") == "zoe" and fold("O'Brien") == "o-brien" and fold("Søren") == "soren"
    assert all(fold(name).isascii() for name in FIRST_NAMES + LAST_NAMES)


def test_pools_stay_on_reserved_names():
    # RFC 2606 domains and RFC 5737 addresses: generated data never points at a real mailbox or host.
    assert all(domain.endswith(("example.com", "example.net", "example.org")) for domain in EMAIL_DOMAINS)
    assert set(IP_PREFIXES) == {"192.0.2.", "198.51.100.", "203.0.113."}
    assert all(r is None or r.startswith("https://") for r in REFERRERS)
