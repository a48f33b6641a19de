"""Ingestion runs: a background worker per run that walks a static catalog and ingests its items."""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any
from urllib.parse import urljoin

from .assets import AssetStore
from .config import Settings
from .errors import Codes, IngestionFailure
from .fetch import Fetcher
from .geoparquet import read_items
from .item_faults import ItemFaults, run_failure
from .items import ItemWriter
from .models import COUNTERS
from .operations import Operations
from .sas import redact
from .store import Store

log = logging.getLogger("geocatalog_emulator")


def walk(fetcher: Fetcher, root_url: str, root: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Breadth-first over `child` and `item` links: (item URLs, child catalog URLs that failed)."""
    queue: deque[tuple[str, dict[str, Any]]] = deque([(root_url, root)])
    seen, items, broken = {root_url}, [], []
    while queue:
        url, doc = queue.popleft()
        for link in doc.get("links") or []:
            if not isinstance(link, dict) or link.get("rel") not in ("child", "item"):
                continue
            if not isinstance(link.get("href"), str):
                continue
            target = urljoin(url, link["href"])  # relative hrefs resolve against the document
            if target in seen:
                continue
            seen.add(target)
            if link["rel"] == "item":
                items.append(target)
                continue
            try:
                child = fetcher.get_json(target, Codes.INVALID_CATALOG)
            except IngestionFailure as failure:
                log.info("child catalog %s failed: %s", redact(target), failure.code)
                broken.append(target)
                continue
            if isinstance(child, dict):
                queue.append((target, child))
            else:
                broken.append(target)
    return items, broken


class RunWorker:
    """Starts each run in its own thread, at most `max_concurrent_runs` at a time (the rest stay Pending)."""

    def __init__(
        self,
        store: Store,
        ops: Operations,
        settings: Settings,
        assets: AssetStore | None,
        item_faults: ItemFaults | None = None,
    ) -> None:
        self.store = store
        self.ops = ops
        self.settings = settings
        self.assets = assets
        self.item_faults = item_faults or ItemFaults()
        self._slots = threading.Condition()
        self._active = 0

    def start(self, run: dict[str, Any]) -> threading.Thread:
        """Ingest the run in the background."""
        return self.ops.spawn(lambda: self._execute(run), f"run-{run['id'][:8]}")

    def _acquire(self, op_id: str) -> bool:
        with self._slots:
            while self._active >= self.settings.max_concurrent_runs:
                if self.ops.sleep(0) or not self.ops.is_active(op_id):
                    return False
                self._slots.wait(0.1)
            self._active += 1
            return True

    def _release(self) -> None:
        with self._slots:
            self._active -= 1
            self._slots.notify_all()

    def _execute(self, run: dict[str, Any]) -> None:
        op_id = run["operationId"]
        if not (self.ops.hold(op_id, self.settings.run_start_delay) and self._acquire(op_id)):
            return
        try:
            if self.ops.start(op_id, counters=dict.fromkeys(COUNTERS, 0)):
                self.ops.execute(op_id, lambda: self._ingest(run))
                op = self.ops.get(op_id) or {}
                last = (op.get("statusHistory") or [{}])[-1]
                log.info(
                    "run %s (%s): %s %s %s",
                    run["id"],
                    run["collectionId"],
                    op.get("status"),
                    op.get("counters"),
                    f"{last.get('errorCode')}: {last.get('errorMessage')}" if last.get("errorCode") else "",
                )
        finally:
            self._release()

    def _ingest(self, run: dict[str, Any]) -> None:
        collection_id, op_id = run["collectionId"], run["operationId"]
        if self.store.get("collection", collection_id) is None:
            raise IngestionFailure(Codes.COLLECTION_MISSING, f"Collection '{collection_id}' does not exist")
        fetcher = Fetcher(self.store.list("source"), self.settings, self.assets)
        try:
            writer = ItemWriter(self.store, fetcher, self.assets, self.settings)
            if run.get("importType") == "StacGeoparquet":
                rows = read_items(fetcher.get(run["stacGeoparquetUrl"]).content)
                failures = self._ingest_items(run, writer, rows, 0)
            else:
                url = run["sourceCatalogUrl"]
                fetcher.check_listing(url)
                root = fetcher.get_json(url, Codes.INVALID_CATALOG)
                if not isinstance(root, dict) or root.get("type") not in ("Catalog", "Collection"):
                    raise IngestionFailure(
                        Codes.INVALID_CATALOG, f"'{redact(url)}' is not a STAC Catalog or Collection"
                    )
                items, broken = walk(fetcher, url, root)
                failures = self._ingest_items(run, writer, items, len(broken))
        finally:
            fetcher.close()
        op = self.ops.get(op_id) or {}
        failed = (op.get("counters") or {}).get("totalFailedItems", 0)
        if failed and op.get("status") == "Running" and self.settings.partial_failure_status == "Failed":
            raise run_failure(failures, failed, op["counters"]["totalItems"], Codes.BATCH_ERRORS)

    def _ingest_items(
        self, run: dict[str, Any], writer: ItemWriter, items: list[Any], broken: int
    ) -> list[IngestionFailure]:
        """Ingest every entry, counting as it goes; the items' failures."""
        op_id = run["operationId"]
        if len(items) > self.settings.max_items_per_run:
            # The documented limit; the service's exact error code for it is not documented [INF].
            raise IngestionFailure(
                Codes.GENERIC,
                f"The catalog links {len(items)} items; one bulk ingestion takes at most {self.settings.max_items_per_run}",
            )
        # A child catalog that cannot be read counts as one failed entry, so the counters show it.
        counts = {
            "totalItems": len(items) + broken,
            "totalPendingItems": len(items),
            "totalSuccessfulItems": 0,
            "totalFailedItems": broken,
        }
        self.ops.set_counters(op_id, **counts)
        skipped, failures = 0, []
        for entry in items:
            if self.ops.sleep(self.settings.item_delay) or not self.ops.is_active(op_id):
                return failures  # canceled, reset or shutting down
            outcome = self._ingest_one(run, writer, entry)
            skipped += outcome == "skipped"
            if isinstance(outcome, IngestionFailure):
                failures.append(outcome)
            counts["totalPendingItems"] -= 1
            counts["totalFailedItems" if isinstance(outcome, IngestionFailure) else "totalSuccessfulItems"] += 1
            self.ops.set_counters(op_id, **counts)
        # Skipped items count as successful on the wire; the admin state says how many were skipped.
        self.store.update("run", run["id"], {"skippedItems": skipped, "failedLinks": broken})
        return failures

    def _ingest_one(
        self, run: dict[str, Any], writer: ItemWriter, entry: str | dict[str, Any]
    ) -> str | IngestionFailure:
        """One item: a URL to fetch (StaticCatalog) or a row already read (StacGeoparquet, absolute hrefs).

        "ingested", "skipped" (skipExistingItems), or the item's failure.
        """
        collection_id = run["collectionId"]
        item_url = entry if isinstance(entry, str) else None
        try:
            item = writer.fetcher.get_json(item_url, Codes.STAC_VALIDATION) if item_url else entry
            if (
                run.get("skipExistingItems")
                and isinstance(item, dict)
                and isinstance(item.get("id"), str)
                and self.store.get_item(collection_id, item["id"]) is not None
            ):
                return "skipped"
            injected = (
                self.item_faults.draw(collection_id, item["id"]) if isinstance(item, dict) and item.get("id") else None
            )
            if injected is not None:
                raise injected
            writer.write(item, collection_id, item_url, bool(run.get("keepOriginalAssets")))
            return "ingested"
        except IngestionFailure as failure:
            where = redact(item_url) if item_url else f"row {entry.get('id')}"
            log.info("run %s: item %s failed: %s %s", run["id"], where, failure.code, failure.message)
            return failure
