"""What the triggers call: unwrap into Drops, build the runtime once per process, hand over to the core."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from ingest_core import reconcile, sweep
from ingest_core.errors import InvalidDrop
from ingest_core.events import canonical_blob_url, drop_from_blob_trigger, drops_from_event, normalize_etag
from ingest_core.job import Job
from ingest_core.pipeline import delivery_gave_up, handle_drop
from ingest_core.runtime import Runtime, build_runtime
from ingest_core.settings import load_settings
from ingest_core.trust import refused

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
    """Blob trigger input → pipeline (nothing read for a blob outside the trusted accounts); `content`, the
    bytes the host already read, saves reading them again."""
    try:
        drop = drop_from_blob_trigger(uri, etag, length)
    except InvalidDrop as exc:  # not retried: a retry would fail the same way
        log.warning("blob trigger input dropped: %s", exc)
        return None
    rt = runtime()
    return None if refused(rt.settings, drop) else handle_drop(rt, drop, content=content)


def on_event(payload: Any) -> list[Job | None]:
    """Event Grid (or CloudEvents) payload → pipeline, one Drop per trusted BlobCreated upload; never raises on bad input."""
    drops = drops_from_event(payload)
    if not drops:
        return []
    rt = runtime()
    return [None if refused(rt.settings, d) else handle_drop(rt, d) for d in drops]


def on_reconcile() -> reconcile.Summary:
    """Reconcile timer."""
    return reconcile.reconcile(runtime())


def on_sweep() -> list[str]:
    """Sweep timer."""
    return sweep.deleted_ids(sweep.sweep(runtime()))


def on_poison(body: str, attempts: int | None = None) -> Job | None:
    """A blob-trigger delivery the host gave up on (its poison-queue message): the upload's job records it."""
    try:
        msg = json.loads(body)
        container, name, etag = msg["ContainerName"], msg["BlobName"], msg.get("ETag", "")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("poison-queue message ignored: not a blob-trigger message (%s)", type(exc).__name__)
        return None
    rt = runtime()
    url = canonical_blob_url(f"{rt.storage.service_url}/{container}/{name}")
    return delivery_gave_up(rt, url, normalize_etag(str(etag)), attempts)
