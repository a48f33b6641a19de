"""bench.counting: HTTP calls counted at requests.Session.send, by service and party (real requests, no server)."""

from __future__ import annotations

import pytest
import requests

from bench.counting import HttpCounter, classify, per_unit
from local_twin.azurite import free_port

SERVICES = {10000: "blob", 10002: "table", 8080: "geocatalog"}


def test_classify_by_port_and_keeps_the_emulators_admin_routes_apart():
    assert classify("https://127.0.0.1:10000/acct/c/x.json", SERVICES) == "blob"
    assert classify("https://127.0.0.1:10002/acct/Tables", SERVICES) == "table"
    assert classify("http://127.0.0.1:8080/inma/ingestion-sources?api-version=x", SERVICES) == "geocatalog"
    assert classify("http://127.0.0.1:8080/_emulator/requests", SERVICES) == "admin"
    assert classify("http://127.0.0.1:9/x", SERVICES) == "other"


def test_counter_counts_each_send_by_party_even_when_the_request_fails_and_uninstall_restores():
    port = free_port()  # nothing listens there: each request fails after being sent to the transport
    counter = HttpCounter({port: "table"})
    original = requests.Session.send
    counter.install()
    try:
        for party in ("app", "host"):
            with counter.party(party), pytest.raises(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/t", timeout=2)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/t", timeout=2)  # no party said: the app's
        assert counter.snapshot() == {"app table": 2, "host table": 1}
        counter.reset()
        assert counter.snapshot() == {}
    finally:
        counter.uninstall()
    assert requests.Session.send is original


def test_per_unit_divides_and_says_none_for_no_units():
    assert per_unit({"app blob": 7, "host blob": 2}, "app", "blob", 2) == 3.5
    assert per_unit({}, "app", "table", 4) == 0.0
    assert per_unit({"app blob": 7}, "app", "blob", 0) is None
