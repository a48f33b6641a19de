"""hrefs: one canonical URL per document, whatever the spelling, so the container check sees what storage serves."""

import pytest

from ingest_core.errors import InvalidDrop
from ingest_core.hrefs import canonical_url, inside, resolve_href, storage_root

BASE = "https://127.0.0.1:10000/devstoreaccount1/cat/t/catalog.json"
CAT = "https://127.0.0.1:10000/devstoreaccount1/cat"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("./a/i.json", f"{CAT}/t/a/i.json"),
        ("a/./b/../i.json", f"{CAT}/t/a/i.json"),
        ("%2e/a/%2E%2E/i.json", f"{CAT}/t/i.json"),
        ("a%2fi.json", f"{CAT}/t/a/i.json"),
        ("a%5ci.json", f"{CAT}/t/a/i.json"),
        ("my%20item.json?sv=1&sig=x#top", f"{CAT}/t/my%20item.json"),
        ("../../../../../x.json", "https://127.0.0.1:10000/x.json"),
        ("HTTPS://127.0.0.1:10000/devstoreaccount1/cat/t/i.json", f"{CAT}/t/i.json"),
        ("https://A.blob.core.windows.net:443/c/i.json", "https://a.blob.core.windows.net/c/i.json"),
        ("%252e%252e/i.json", f"{CAT}/t/%252e%252e/i.json"),  # decoded once, as storage does: a literal name
    ],
)
def test_resolve_href(href, expected):
    assert resolve_href(BASE, href) == expected


def test_inside_is_segment_wise():
    assert inside(f"{CAT}/t/i.json", CAT)
    assert not inside(f"{CAT}-private/t/i.json", CAT)
    assert not inside(CAT, CAT)
    assert inside(canonical_url(f"{CAT}/t/i.json"), "HTTPS://127.0.0.1:10000/devstoreaccount1/cat/")


def test_storage_root():
    assert storage_root(CAT) == "https://127.0.0.1:10000/devstoreaccount1"
    assert storage_root("https://acct.blob.core.windows.net/cat") == "https://acct.blob.core.windows.net"


@pytest.mark.parametrize("href", ["https://[::1/x", "https://h:99999/x", "https://h:port/x"])
def test_unusable_hrefs_are_invalid(href):
    with pytest.raises(InvalidDrop, match="not a usable URL"):
        resolve_href(BASE, href)
