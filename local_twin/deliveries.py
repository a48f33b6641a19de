"""Which blob versions the host loop has delivered, kept in a small JSON file so a restart redelivers the rest."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from local_twin.subscription import new_sequencer

PENDING, DELIVERED, POISON, GONE = "pending", "delivered", "poison", "gone"


@dataclass
class Record:
    """The latest version of one blob that passed a subscription filter, and how its delivery ended."""

    etag: str
    sequencer: str
    outcome: str = PENDING
    attempts: int = 0


class DeliveryLog:
    """Per blob URL: the version last seen and its outcome. A version counts as delivered only
    after the function returned, so one in flight when the loop dies is delivered again (at least once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        if path.exists():
            raw = json.loads(path.read_text() or "{}")
            self._records = {url: Record(**rec) for url, rec in raw.items()}

    def observe(self, url: str, etag: str) -> Record | None:
        """The record to deliver for this version, or None when it is already settled.

        A new version gets a fresh sequencer; a version still pending keeps the one it was
        first announced with, as Event Grid redelivers the same event.
        """
        with self._lock:
            rec = self._records.get(url)
            if rec is not None and rec.etag == etag:
                return rec if rec.outcome == PENDING else None
            rec = Record(etag=etag, sequencer=new_sequencer())
            self._records[url] = rec
            self._save()
            return rec

    def finish(self, url: str, etag: str, outcome: str, attempts: int) -> None:
        """Record how the delivery of this version ended (ignored when a newer version replaced it)."""
        with self._lock:
            rec = self._records.get(url)
            if rec is None or rec.etag != etag:
                return
            rec.outcome, rec.attempts = outcome, attempts
            self._save()

    def counts(self) -> dict[str, int]:
        """How many blob versions are in each outcome."""
        with self._lock:
            out = dict.fromkeys((PENDING, DELIVERED, POISON, GONE), 0)
            for rec in self._records.values():
                out[rec.outcome] = out.get(rec.outcome, 0) + 1
            return out

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({url: asdict(r) for url, r in self._records.items()}, indent=1))
        os.replace(tmp, self.path)
