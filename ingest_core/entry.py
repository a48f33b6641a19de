"""What the triggers call: unwrap into Drops, build the runtime once per process, hand over to the core."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ingest_core import reconcile, sweep
from ingest_core.errors import InvalidDrop
from ingest_core.events import drop_from_blob_trigger, drops_from_event
from ingest_core.job import Job
from ingest_core.pipeline import handle_drop
from ingest_core.runtime import Runtime, build_runtime
from ingest_core.settings import load_settings

log = logging.getLogger(__name__)
_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    """The process-wide runtime, built (and the settings validated) on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(load_settings())
        return _runtime


def reset_runtime() -> None:
    """Forget the runtime so the next call re-reads the settings (tests, the local host loop)."""
    global _runtime
    with _lock:
        _runtime = None


def on_blob(uri: str, etag: str | None, length: int | None, content: bytes | None = None) -> Job | None:
    """Blob trigger input → pipeline; `content`, the bytes the host already read, saves reading them again."""
    try:
        drop = drop_from_blob_trigger(uri, etag, length)
    except InvalidDrop as exc:  # not retried: a retry would fail the same way
        log.error("blob trigger input rejected: %s", exc)
        return None
    return handle_drop(runtime(), drop, content=content)


def on_event(payload: dict[str, Any] | list[Any]) -> list[Job | None]:
    """Event Grid (or CloudEvents) payload → pipeline, one Drop per BlobCreated upload."""
    try:
        drops = drops_from_event(payload)
    except InvalidDrop as exc:
        log.error("event rejected: %s", exc)
        return []
    return [handle_drop(runtime(), d) for d in drops]


def on_reconcile() -> reconcile.Summary:
    """Reconcile timer."""
    return reconcile.reconcile(runtime())


def on_sweep() -> list[str]:
    """Sweep timer."""
    return sweep.deleted_ids(sweep.sweep(runtime()))
