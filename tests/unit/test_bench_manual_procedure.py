"""bench.manual_procedure: the parts of the scripted how-to that need no service (SAS, answer checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests

from bench.manual_procedure import ManualFailed, ManualProcedure, _check
from local_twin.azurite import ACCOUNT, ACCOUNT_KEY

CONNECTION = (f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
              f"BlobEndpoint=https://127.0.0.1:10000/{ACCOUNT};")  # fmt: skip


def test_container_sas_is_read_list_on_the_container_for_the_how_tos_two_hour_window():
    proc = ManualProcedure("http://127.0.0.1:1/", "t", CONNECTION, "2026-04-15")
    query = parse_qs(proc.container_sas(f"https://127.0.0.1:10000/{ACCOUNT}/bench0"))
    assert query["sp"] == ["rl"] and query["sr"] == ["c"] and "sig" in query
    start, expiry = (datetime.fromisoformat(query[k][0].replace("Z", "+00:00")) for k in ("st", "se"))
    assert expiry - start == timedelta(hours=2)
    assert start < datetime.now(UTC) < expiry
    assert proc.geocatalog_url == "http://127.0.0.1:1" and proc.params == {"api-version": "2026-04-15"}


def test_an_unexpected_answer_names_the_step_and_the_status():
    resp = requests.Response()
    resp.status_code, resp._content = 409, b'{"error": {"code": "Conflict"}}'
    with pytest.raises(ManualFailed, match=r"create ingestion source: HTTP 409 \(expected 201\).*Conflict"):
        _check(resp, 201, "create ingestion source")
    resp.status_code = 201
    assert _check(resp, 201, "create ingestion source") is resp
