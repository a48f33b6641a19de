"""The host loop's delivery record: at least once across restarts, never twice once delivered."""

from __future__ import annotations

from pathlib import Path

from local_twin.deliveries import DELIVERED, POISON, DeliveryLog

URL = "https://127.0.0.1:1/devstoreaccount1/catalogs/catalog.json"


def test_a_version_is_delivered_until_it_succeeds_even_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    log = DeliveryLog(path)
    first = log.observe(URL, "e1")
    assert first is not None and first.attempts == 0
    # The loop dies mid-delivery: a new loop reads the file and delivers the same event again.
    again = DeliveryLog(path).observe(URL, "e1")
    assert again is not None and again.sequencer == first.sequencer
    log.finish(URL, "e1", DELIVERED, attempts=1)
    assert DeliveryLog(path).observe(URL, "e1") is None
    assert DeliveryLog(path).counts()[DELIVERED] == 1


def test_a_new_version_is_a_new_event_and_stale_outcomes_are_ignored(tmp_path: Path) -> None:
    log = DeliveryLog(tmp_path / "deliveries.json")
    old = log.observe(URL, "e1")
    new = log.observe(URL, "e2")
    assert old is not None and new is not None and new.sequencer >= old.sequencer
    log.finish(URL, "e1", DELIVERED, attempts=1)  # the old delivery ends after the blob changed
    assert log.observe(URL, "e2") is not None
    log.finish(URL, "e2", POISON, attempts=3)
    assert log.observe(URL, "e2") is None
    assert log.observe(URL, "e3") is not None  # a poisoned blob is tried again once it changes
