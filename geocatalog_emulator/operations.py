"""Operation lifecycle shared by LROs and ingestion runs: Pending → Running → terminal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .config import Settings
from .errors import Codes, IngestionFailure
from .models import COUNTERS, TERMINAL, new_id, now_iso, render_operation
from .routing import Request, Response
from .store import Store

log = logging.getLogger("geocatalog_emulator")

# Live traffic shows startTime/finishTime only on item and ingestion operations.
TIMED_TYPES = ("IngestionStaticCatalog", "AddItem", "UpdateItem", "DeleteItem")


class Operations:
    """Creates operations and moves them through their statuses, recording history as the service does."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def create(self, op_type: str, collection_id: str, info: dict[str, str] | None = None) -> dict[str, Any]:
        """A new Pending operation."""
        now = now_iso()
        op = {
            "id": new_id(),
            "type": op_type,
            "collectionId": collection_id,
            "status": "Pending",
            "statusHistory": [{"status": "Pending", "timestamp": now}],
            "creationTime": now,
            "info": info,
            "counters": None,
            "error": None,
        }
        self.store.put("operation", op["id"], op, scope=collection_id)
        return op

    def get(self, op_id: str) -> dict[str, Any] | None:
        """The stored operation record."""
        return self.store.get("operation", op_id)

    def is_active(self, op_id: str) -> bool:
        """True while the operation exists and is Pending or Running."""
        op = self.get(op_id)
        return op is not None and op["status"] not in TERMINAL

    def start(self, op_id: str, counters: dict[str, int] | None = None) -> bool:
        """Pending → Running; False if the operation was canceled or removed meanwhile."""
        started = False

        def change(op: dict[str, Any]) -> None:
            nonlocal started
            if op["status"] != "Pending":
                return
            started = True
            op["status"] = "Running"
            op["statusHistory"].append({"status": "Running", "timestamp": now_iso()})
            if op["type"] in TIMED_TYPES:
                # Recorded: a running operation's startTime equals its creationTime.
                op["startTime"] = op["creationTime"]
            if counters is not None:
                op["counters"] = dict(counters)

        self.store.update("operation", op_id, change)
        return started

    def set_counters(self, op_id: str, **counters: int) -> None:
        """Update some of the four item counters."""

        def change(op: dict[str, Any]) -> None:
            current = op.get("counters") or dict.fromkeys(COUNTERS, 0)
            current.update(counters)
            op["counters"] = current

        self.store.update("operation", op_id, change)

    def finish(self, op_id: str, succeeded: bool, code: str | None = None, message: str | None = None) -> None:
        """Running → Succeeded (history says "Finished") or Failed (history carries the error)."""

        def change(op: dict[str, Any]) -> None:
            if op["status"] in TERMINAL:
                return
            now = now_iso()
            if succeeded:
                op["status"] = "Succeeded"
                op["statusHistory"].append({"status": "Finished", "timestamp": now})
            else:
                op["status"] = "Failed"
                entry = {"status": "Failed", "timestamp": now, "errorCode": code, "errorMessage": message}
                op["statusHistory"].append(entry)
                op["error"] = {"code": code, "message": message}
            if op["type"] in TIMED_TYPES:
                op["finishTime"] = now

        self.store.update("operation", op_id, change)

    def cancel(self, op_id: str) -> None:
        """Cancel a Pending or Running operation; a Pending one keeps only the Canceled entry."""

        def change(op: dict[str, Any]) -> None:
            if op["status"] in TERMINAL:
                return
            now = now_iso()
            entry = {
                "status": "Canceled",
                "timestamp": now,
                "errorCode": Codes.CANCELED,
                "errorMessage": f"Operation '{op['id']}' for collection '{op['collectionId']}' has been cancelled",
            }
            op["statusHistory"] = [entry] if op["status"] == "Pending" else [*op["statusHistory"], entry]
            op["status"] = "Canceled"
            op["finishTime"] = now

        self.store.update("operation", op_id, change)

    def run_async(
        self, op_id: str, work: Callable[[], None], counters: dict[str, int] | None = None
    ) -> threading.Thread:
        """Run `work` in a background thread as the body of the operation."""
        return self.spawn(lambda: self._run(op_id, work, counters), f"op-{op_id[:8]}")

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a tracked daemon thread (joined on `stop`)."""

        def body() -> None:
            try:
                target()
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=body, name=name, daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _run(self, op_id: str, work: Callable[[], None], counters: dict[str, int] | None) -> None:
        if self.hold(op_id, self.settings.operation_delay) and self.start(op_id, counters):
            self.execute(op_id, work)

    def execute(self, op_id: str, work: Callable[[], None]) -> None:
        """Call `work` and finish the operation from its outcome."""
        try:
            work()
        except IngestionFailure as failure:
            self.finish(op_id, False, failure.code, failure.message)
        except Exception:  # a bug must still end the operation, or clients poll forever
            log.exception("operation %s crashed", op_id)
            self.finish(op_id, False, Codes.INTERNAL, "The emulator hit an internal error; see its log")
        else:
            self.finish(op_id, True)

    def stop(self, timeout: float = 5.0) -> None:
        """Tell background work to stop and wait (bounded) for it to finish."""
        self._stopping.set()
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout / max(len(threads), 1))

    def hold(self, op_id: str, seconds: float) -> bool:
        """Keep an operation Pending for `seconds`; False if it is canceled, removed or the emulator stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.sleep(min(left, 0.05)) or not self.is_active(op_id):
                return False
        return not self._stopping.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait unless the emulator stops; True if it is stopping."""
        if seconds <= 0:
            return self._stopping.is_set()
        return self._stopping.wait(seconds)


def accepted(request: Request, op: dict[str, Any]) -> Response:
    """The 202 of every LRO: the Operation, with `operation-location` and `Location` on its URL."""
    url = request.url_for(f"/inma/operations/{op['id']}")
    return Response(202, render_operation(op), {"operation-location": url, "Location": url})
