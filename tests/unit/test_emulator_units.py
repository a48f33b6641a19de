"""Unit tests of the emulator's pure parts: SAS, wire shapes, paging, search parsing, faults, routing, items."""

from __future__ import annotations

from typing import Any

import pytest

from geocatalog_emulator.errors import ApiError, IngestionFailure
from geocatalog_emulator.faults import Faults, RequestCounts
from geocatalog_emulator.fetch import covers
from geocatalog_emulator.ingest import walk
from geocatalog_emulator.items import validate_item
from geocatalog_emulator.models import format_time, merge_patch, parse_time, render_operation, render_run
from geocatalog_emulator.paging import page
from geocatalog_emulator.routing import Request, Router
from geocatalog_emulator.sas import redact, validate_token, with_token
from geocatalog_emulator.search import parse_bbox, parse_interval, parse_token, search_args
from geocatalog_emulator.sources_api import normalize_container_url


def request(path: str = "/inma/x", **query: str) -> Request:
    return Request("GET", path, {k: [v] for k, v in query.items()}, {}, base_url="http://h:1")


@pytest.mark.parametrize(
    ("se", "expected"),
    [
        ("2099-12-31T23:59:59Z", "2099-12-31T23:59:59.0000000Z"),
        ("2099-12-31T23%3A59%3A59Z", "2099-12-31T23:59:59.0000000Z"),
        ("2099-12-31", "2099-12-31T00:00:00.0000000Z"),
        ("2099-12-31T23:59:59.1234567Z", "2099-12-31T23:59:59.1234560Z"),
    ],
)
def test_expiration_is_derived_from_se(se, expected):
    assert validate_token(f"?sv=1&st=2024-01-01&se={se}&sr=c&sp=rl&sig=x", require_start=True) == expected


@pytest.mark.parametrize("token", ["", "sv=1&se=2099-01-01&sig=x", "sv=1&st=2024-01-01&sig=x", "st=1&se=nope&sig=x"])
def test_invalid_tokens_are_400(token):
    with pytest.raises(ApiError) as error:
        validate_token(token, require_start=True)
    assert error.value.status == 400


def test_urls_are_redacted_and_signed():
    assert redact("https://a/c/b.json?sv=1&sig=SECRET") == "https://a/c/b.json"
    assert with_token("https://a/c?restype=container", "?sig=x") == "https://a/c?restype=container&sig=x"
    assert with_token("https://a/c/b", None) == "https://a/c/b"


def test_times_use_seven_fraction_digits():
    moment = parse_time("2025-10-26T17:39:07.4852296Z")
    assert format_time(moment) == "2025-10-26T17:39:07.4852290Z"


def test_operation_and_run_shapes():
    op = {
        "id": "o",
        "type": "IngestionStaticCatalog",
        "collectionId": "c",
        "status": "Failed",
        "statusHistory": [],
        "creationTime": "t",
        "startTime": "t",
        "info": None,
        "counters": {"totalItems": 2, "totalPendingItems": 0, "totalSuccessfulItems": 1, "totalFailedItems": 1},
        "error": {"code": "E", "message": "m"},
    }
    wire = render_operation(op)
    assert wire["additionalInformation"] == {
        "TotalFailedItems": "1",
        "TotalItems": "2",
        "TotalPendingItems": "0",
        "TotalSuccessfulItems": "1",
    }
    assert wire["error"] == {"error": {"code": "E", "message": "m"}} and "finishTime" not in wire
    run = render_run({"id": "r", "creationTime": "t", "skipExistingItems": True}, {**op, "counters": None})
    assert run["operation"]["totalItems"] == 0 and "error" not in run["operation"] and run["skipExistingItems"]


def test_merge_patch():
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 5}}) == {"b": {"c": 5, "d": 3}}


def test_odata_paging():
    rows = list(range(7))
    first = page(request(), rows, 3)
    assert first["value"] == [0, 1, 2] and "%24skip=3" in first["nextLink"]
    assert page(request(**{"$skip": "6"}), rows, 3) == {"value": [6]}
    capped = page(request(**{"$top": "4"}), rows, 3)
    assert capped["value"] == [0, 1, 2] and "%24top=1" in capped["nextLink"]
    with pytest.raises(ApiError):
        page(request(**{"$skip": "-1"}), rows, 3)


def test_search_parsing():
    assert parse_bbox("1,2,3,4") == (1, 2, 3, 4) and parse_bbox([1, 2, 0, 3, 4, 9]) == (1, 2, 3, 4)
    assert parse_interval("2024-01-01T00:00:00Z/..") == ("2024-01-01T00:00:00.0000000Z", None)
    assert parse_interval("2024-01-01T00:00:00+01:00") == ("2023-12-31T23:00:00.0000000Z",) * 2
    assert parse_token("next:20") == 20
    args = search_args({"intersects": {"type": "Point", "coordinates": [5, 6]}, "collections": "a,b"})
    assert args["bbox"] == (5, 6, 5, 6) and args["collections"] == ["a", "b"] and args["limit"] == 10
    for bad in ({"bbox": "1,2,3"}, {"datetime": "a/b/c"}, {"limit": 10001}, {"token": "x"}, {"sortby": "id"}):
        with pytest.raises(ApiError):
            search_args(bad)


def test_faults_fire_count_times_and_match_routes():
    faults = Faults(seed=1)
    faults.add({"route": "POST /a", "status": 429, "count": 2})
    assert faults.draw("GET /a") == (0, None)
    latency, error = faults.draw("POST /a")
    assert error.status == 429 and error.headers == {"Retry-After": "1"}
    assert faults.draw("POST /a")[1] is not None and faults.draw("POST /a") == (0, None)
    faults.add({"route": "GET *", "latencyMs": 5})
    assert faults.draw("GET /x") == (5, None)
    for bad in ({"route": "*"}, {"status": 200, "route": "*"}, {"route": "*", "status": 500, "count": 0}):
        with pytest.raises(ValueError):
            faults.add(bad)
    counts = RequestCounts()
    counts.record("GET /x", faulted=True)
    assert counts.snapshot() == {"GET /x": 1, "total": 1, "counts": {"GET /x": 1}, "faulted": {"GET /x": 1}}


def test_router_templates_and_errors():
    router = Router()
    router.add("GET", "/a/literal", lambda r: None)
    router.add("GET", "/a/{id}", lambda r: None)
    assert router.match("GET", "/a/literal")[0] == "/a/literal"
    assert router.match("GET", "/a/x%20y")[2] == {"id": "x y"}
    with pytest.raises(ApiError) as error:
        router.match("POST", "/a/x")
    assert error.value.status == 405
    assert router.template_for("GET", "/b") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Acct.blob.core.windows.net/c/", "https://acct.blob.core.windows.net/c"),
        ("https://127.0.0.1:10000/devstoreaccount1/c", "https://127.0.0.1:10000/devstoreaccount1/c"),
    ],
)
def test_container_urls(url, expected):
    assert normalize_container_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net",
        "https://acct.blob.core.windows.net/c/blob.json",
        "https://127.0.0.1:10000/devstoreaccount1",
        "https://acct.blob.core.windows.net/c?sig=x",
        "ftp://acct/c",
    ],
)
def test_bad_container_urls(url):
    with pytest.raises(ApiError):
        normalize_container_url(url)


def test_covers_is_a_container_prefix_match():
    assert covers("https://a.net/c", "https://A.net/c/x/y.json")
    assert not covers("https://a.net/c", "https://a.net/cc/x.json")
    assert not covers("https://a.net/c", "http://a.net/c/x.json")


ITEM = {
    "type": "Feature",
    "id": "i",
    "geometry": {"type": "MultiPoint", "coordinates": [[1, 5], [3, 2]]},
    "properties": {"start_datetime": "2024-01-01T00:00:00Z", "end_datetime": "2024-02-01T00:00:00Z"},
    "assets": {"a": {"href": "./a.tif"}},
}


def test_validate_item_returns_search_keys():
    box, (start, end) = validate_item(ITEM)
    assert box == (1, 2, 3, 5) and start < end


@pytest.mark.parametrize(
    "change",
    [
        {"type": "Collection"},
        {"id": "a/b"},
        {"id": "x" * 150},
        {"geometry": {"type": "Polygon", "coordinates": []}},
        {"bbox": [1, 2]},
        {"assets": []},
        {"properties": {"datetime": "yesterday"}},
    ],
)
def test_invalid_items(change):
    with pytest.raises(IngestionFailure) as failure:
        validate_item({**ITEM, **change})
    assert failure.value.code == "StacValidationFailed"


class FakeFetcher:
    """Serves documents from a dict; anything else is a 404-style failure."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.fetched: list[str] = []

    def get_json(self, url: str, code: str) -> Any:
        self.fetched.append(url)
        if url not in self.docs:
            raise IngestionFailure("IngestionResourceUriNotFound", url)
        return self.docs[url]


def test_walk_follows_relative_and_absolute_links_once():
    root = "https://s/c/catalog.json"
    docs = {
        "https://s/c/a/catalog.json": {
            "links": [
                {"rel": "item", "href": "./i1.json"},
                {"rel": "item", "href": "https://s/c/b/i2.json"},
                {"rel": "parent", "href": "../catalog.json"},
                {"rel": "child", "href": "../a/catalog.json"},  # a cycle
            ]
        }
    }
    links = [{"rel": "child", "href": "./a/catalog.json"}, {"rel": "child", "href": "gone/catalog.json"}]
    links.append({"rel": "item", "href": "./a/i1.json"})  # the same item twice
    fetcher = FakeFetcher(docs)
    items, broken = walk(fetcher, root, {"links": links})
    assert items == ["https://s/c/a/i1.json", "https://s/c/b/i2.json"]
    assert broken == ["https://s/c/gone/catalog.json"]
    assert fetcher.fetched == ["https://s/c/a/catalog.json", "https://s/c/gone/catalog.json"]
