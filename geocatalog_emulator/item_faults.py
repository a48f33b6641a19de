"""Item-failure faults: chosen items of ingestion runs fail a given number of times with a given error code.

They make a run end with failed items and a chosen code in its last `statusHistory` entry, so a client's
re-run logic (transient or not, `skipExistingItems`) can be tried: once an item has failed `times` times it
ingests normally, so the next run picks it up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import IngestionFailure
from .faults import FaultRegistry
from .models import new_id

KIND = "item-failure"
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,63}$")


class InjectedFailure(IngestionFailure):
    """An item failure made by an item-failure fault (the run then reports the fault's code)."""


@dataclass
class ItemFault:
    """One item-failure fault: which items fail (ids and/or a rate), with which code, how many times each."""

    id: str
    code: str
    items: list[str] | None
    rate: float
    times: int
    collection: str | None
    message: str
    fired: int = 0
    chosen: dict[str, bool] = field(default_factory=dict)  # "collection/item" -> picked by the rate
    failures: dict[str, int] = field(default_factory=dict)  # "collection/item" -> times failed so far

    def public(self) -> dict[str, Any]:
        """The admin JSON of this fault."""
        return {
            "id": self.id,
            "kind": KIND,
            "code": self.code,
            "items": self.items,
            "rate": self.rate,
            "times": self.times,
            "collection": self.collection,
            "fired": self.fired,
            "failedItems": sorted(self.failures),
        }


def parse_item_fault(spec: dict[str, Any]) -> ItemFault:
    """Validate `{"kind": "item-failure", "code", "items"?, "rate"?, "times"?, "collection"?, "message"?}`."""
    code = spec.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValueError("an item-failure fault needs a 'code' such as \"InternalIntermitentError\"")
    items = spec.get("items")
    if items is not None and (not isinstance(items, list) or not all(isinstance(i, str) and i for i in items)):
        raise ValueError("'items' must be a list of item ids")
    rate = spec.get("rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ValueError("'rate' must be between 0 and 1")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError("'times' must be a positive integer (how many times each chosen item fails)")
    collection = spec.get("collection")
    if collection is not None and not isinstance(collection, str):
        raise ValueError("'collection' must be a collection id")
    message = spec.get("message", "")
    if not isinstance(message, str):
        raise ValueError("'message' must be a string")
    return ItemFault(new_id(), code, items, float(rate), times, collection, message)


class ItemFaults(FaultRegistry[ItemFault]):
    """The active item-failure faults."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(parse_item_fault, ItemFault.public, seed)

    def draw(self, collection_id: str, item_id: str) -> InjectedFailure | None:
        """The failure this item meets now (the first matching fault with failures left), or None."""
        key = f"{collection_id}/{item_id}"
        with self._lock:
            for fault in self._faults:
                if fault.collection not in (None, collection_id) or (
                    fault.items is not None and item_id not in fault.items
                ):
                    continue
                if key not in fault.chosen:  # each item is picked (or not) once, so a rate means "these items"
                    fault.chosen[key] = self._random.random() < fault.rate
                if not fault.chosen[key] or fault.failures.get(key, 0) >= fault.times:
                    continue
                fault.failures[key] = fault.failures.get(key, 0) + 1
                fault.fired += 1
                text = fault.message or f"Injected item failure {fault.id}: item '{item_id}' failed with {fault.code}"
                return InjectedFailure(fault.code, text)
        return None


def run_failure(failures: list[IngestionFailure], failed: int, total: int, batch_code: str) -> IngestionFailure:
    """How a run with failed items ends: the fault's code when every failure was injected with one code.

    Otherwise the aggregate code (the contract's inference for a run with failed items), naming the first cause.
    """
    codes = {f.code for f in failures}
    if (
        failures
        and len(failures) == failed
        and len(codes) == 1
        and all(isinstance(f, InjectedFailure) for f in failures)
    ):
        return IngestionFailure(failures[0].code, f"{failed} of {total} items failed to ingest: {failures[0].message}")
    first = f"; first: {failures[0].code}: {failures[0].message}" if failures else ""
    return IngestionFailure(batch_code, f"{failed} of {total} items failed to ingest{first}")
