"""Property tests (hypothesis): whatever arrives, events and catalog trees end in a defined outcome.

Defined means: a Drop or nothing for an event (never an exception), a Preflight or InvalidDrop for a tree
(nothing else raised), within the link bound, and no read outside the catalog's container.
"""

from __future__ import annotations

import json
import string
from types import SimpleNamespace
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_core import entry
from ingest_core.errors import InvalidDrop
from ingest_core.events import BLOB_CREATED, drops_from_event
from ingest_core.hrefs import inside
from ingest_core.settings import load_settings
from ingest_core.stac import Preflight, load_json, preflight
from ingest_core.trust import untrusted_reason

FAST = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
AZURITE = "https://127.0.0.1:10000/devstoreaccount1"
CONN = f"DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint={AZURITE};"
SETTINGS = load_settings({"GEOCATALOG_ENDPOINT": "https://gc.example", "CATALOG_STORAGE_CONNECTION": CONN,
                          "LEDGER_STORAGE_CONNECTION": CONN, "CATALOG_CONTAINER": "cat"})  # fmt: skip
CONTAINER = f"{AZURITE}/cat"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)
hosts = st.sampled_from(["https://127.0.0.1:10000", "https://127.0.0.1:10000", "https://127.0.0.1:10001",
                         "http://127.0.0.1:10000", "https://evil.example", "https://user@127.0.0.1:10000"])  # fmt: skip
segments = st.sampled_from(["cat", "a", "catalog.json", "cat-private", "..", ".", "%2e%2e", "a%2fb", "", "é", "%"])
EVENT_FIELDS = ["eventType", "subject", "topic", "data", "data.api", "data.url", "data.eTag", "data.contentLength"]


@st.composite
def events(draw):
    """A BlobCreated event that agrees with itself, on a host and path drawn from a small set, with up to two
    fields then replaced by anything (or removed): most examples get past parsing, so the trust check is exercised."""
    host = draw(hosts)
    account = draw(st.sampled_from(["devstoreaccount1", "devstoreaccount1", "devstoreaccount2"]))
    container = draw(st.sampled_from(["cat", "cat", "other"]))
    path = "/".join(draw(st.lists(segments, min_size=1, max_size=3)))
    ev = {"eventType": BLOB_CREATED, "subject": f"/blobServices/default/containers/{container}/blobs/{path}",
          "topic": f"/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/{account}",
          "id": "e1", "data": {"api": "PutBlob", "url": f"{host}/{account}/{container}/{path}", "eTag": '"0x1"',
                               "contentLength": 10}}  # fmt: skip
    for field in draw(st.lists(st.sampled_from(EVENT_FIELDS), max_size=2)):
        target, key = (ev.get("data"), field[5:]) if field.startswith("data.") else (ev, field)
        if not isinstance(target, dict):
            continue
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values | st.text(max_size=30))
    return ev


@FAST
@given(st.lists(events() | json_values, max_size=4) | events() | json_values)
def test_any_event_payload_gives_drops_or_nothing_never_an_exception(payload):
    for drop in drops_from_event(payload):
        assert drop.url.startswith(("http://", "https://")) or "://" in drop.url
        reason = untrusted_reason(SETTINGS, drop)
        if reason is None:  # trusted: exactly our endpoint, and the event agrees with itself
            assert drop.url.startswith(AZURITE + "/") and drop.account == "devstoreaccount1"
            assert ".." not in drop.path.split("/")


@FAST
@given(st.lists(events() | json_values, max_size=4) | events() | json_values)
def test_entry_on_event_never_raises_and_hands_over_only_trusted_drops(payload):
    handed = []
    # The pipeline itself is tested against Azurite; here only the boundary in front of it is exercised.
    with (
        patch.object(entry, "runtime", lambda: SimpleNamespace(settings=SETTINGS)),
        patch.object(entry, "handle_drop", lambda rt, d: handed.append(d)),
    ):
        results = entry.on_event(payload)
    assert len(results) == len(drops_from_event(payload))
    assert all(untrusted_reason(SETTINGS, d) is None for d in handed)


@FAST
@given(
    st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode())
)
def test_load_json_returns_a_value_or_invalid(data):
    try:
        load_json(data, "w")
    except InvalidDrop as exc:
        assert exc.where == "w" and exc.reason


hrefs = st.sampled_from(["./i.json", "./a/catalog.json", "../x.json", "./%2e%2e/%2e%2e/other/i.json", "b%2f..%2f..%2fz",
                         f"{CONTAINER}-private/i.json", "https://evil.example/cat/i.json", f"{CONTAINER}/t/j.json",
                         "./a/../i.json", "", "https://[::1/x"]) | st.text(alphabet=string.printable, max_size=12)  # fmt: skip
link = st.fixed_dictionaries({"rel": st.sampled_from(["child", "item", "item", "self", "root"]), "href": hrefs})
# Mostly well-formed links; one in five lists also holds a malformed entry.
links = st.builds(lambda ls, junk, put: ls + [junk] * put, st.lists(link, max_size=6), json_values,
                  st.integers(0, 4).map(lambda n: int(n == 0)))  # fmt: skip
documents = st.one_of(
    st.none(),
    json_values,
    st.builds(lambda ls: {"type": "Catalog", "id": "c", "links": ls}, links),
    *[
        st.builds(
            lambda i, g, a: {
                "type": "Feature",
                "id": i,
                "geometry": g,
                "properties": {"datetime": "2021-01-01"},
                "assets": a,
                "links": [],
            },
            st.sampled_from(["i1", "i2", "i 3"]) | json_values,
            st.just({"type": "Point", "coordinates": [0, 0]}) | json_values,
            st.just({"d": {"href": "./d.tif"}}) | json_values,
        )
    ]
    * 3,  # fmt: skip
)


@FAST
@given(links, st.dictionaries(st.sampled_from(["i.json", "a/catalog.json", "a/i.json", "t/j.json", "x.json", "a/x.json"]),
                              documents, max_size=6), st.integers(min_value=1, max_value=12))  # fmt: skip
def test_any_catalog_tree_ends_in_a_preflight_or_invalid_within_its_bounds(root_links, tree, max_links):
    reads = []

    def read(url):
        assert inside(url, CONTAINER), url  # nothing outside the container is ever read
        reads.append(url)
        return tree.get(url[len(CONTAINER) + 1 :].removeprefix("t/"))

    root = {"type": "Catalog", "id": "root", "links": root_links}
    try:
        pf = preflight(f"{CONTAINER}/t/catalog.json", root, CONTAINER, read, max_links=max_links, workers=3)
    except InvalidDrop as exc:
        assert exc.reason
    else:
        assert isinstance(pf, Preflight) and pf.links_checked <= max_links
        assert pf.item_count > 0 or pf.missing
        assert pf.failing_items <= pf.item_count
    assert len(reads) <= max_links
