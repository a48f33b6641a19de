"""The fast unit tier's stand-ins: catalog storage and the GeoCatalog in memory, the ledger over MemoryTableStore.

The ledger is the real one (its rules run unchanged over the in-memory table). Storage and the GeoCatalog are
stand-ins that keep just the contract the pipeline relies on (ETags, 404s, one source per container with its
409, an operation that says "exists", run ids); the integration tier runs the same branches against Azurite and
the emulator. They exist so that the pipeline's branches run in milliseconds (and under mutation testing).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ingest_core.errors import BlobNotFound, InvalidDrop, ServiceError
from ingest_core.events import Drop, parse_blob_url
from ingest_core.job import now_utc
from ingest_core.ledger import Ledger
from ingest_core.runtime import Runtime
from ingest_core.settings import Settings
from ingest_core.sources import Sources
from ingest_core.storage import ContainerSas
from ingest_core.table_store import MemoryTableStore

ACCOUNT = "https://acct.blob.core.windows.net"


class MemoryStorage:
    """Blobs by URL with an ETag each; SAS tokens are opaque strings."""

    def __init__(self, account: str = "acct") -> None:
        self.account_name = account
        self.url = f"https://{account}.blob.core.windows.net"
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.reads: list[str] = []
        self.minted: list[str] = []  # containers this storage minted a SAS for
        self.changed: dict[str, datetime] = {}
        self._etags = itertools.count(1)

    def put(self, url: str, data: bytes | str) -> str:
        """Upload (or overwrite) a blob; its new ETag."""
        etag = f"0x{next(self._etags):04X}"
        self.blobs[url] = (data.encode() if isinstance(data, str) else data, etag)
        self.changed[url] = now_utc()
        return etag

    def read_blob(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """Content and ETag (BlobNotFound when absent)."""
        self.reads.append(url)
        if url not in self.blobs:
            raise BlobNotFound(url)
        data, etag = self.blobs[url]
        if len(data) > max_bytes:
            raise InvalidDrop(f"catalog is {len(data)} bytes, over the {max_bytes}-byte cap", where=url)
        return data, etag

    def last_changes(self, container_url: str, prefix: str) -> list:
        """When each blob under the prefix last changed."""
        base = container_url.rstrip("/") + "/" + prefix
        return [self.changed[u] for u in self.blobs if u.startswith(base)]

    def list_folder(self, container_url: str, folder: str, max_names: int) -> list[str]:
        """Names directly in `folder`, sub-folders ending in '/'."""
        base = container_url.rstrip("/") + "/" + folder
        names = sorted({u[len(base) :].split("/", 1)[0] + ("/" if "/" in u[len(base) :] else "")
                        for u in self.blobs if u.startswith(base)})  # fmt: skip
        return names[:max_names]

    def exists(self, url: str) -> bool:
        """True when the blob exists."""
        return url in self.blobs

    def container_url(self, container: str) -> str:
        """The URL of one container of this account."""
        return f"{self.url}/{container}"

    def write_json(self, url: str, data: bytes) -> None:
        """Upload (or overwrite) a blob."""
        self.put(url, data)

    def blob_urls(self, container_url: str) -> list[tuple[str, datetime]]:
        """(URL, last change) of every blob of the container."""
        return [(u, self.changed[u]) for u in self.blobs if u.startswith(container_url.rstrip("/") + "/")]

    def delete_blob(self, url: str) -> None:
        """Delete a blob (one already gone is fine)."""
        self.blobs.pop(url, None)

    def blob_etag(self, url: str) -> str:
        """The current ETag."""
        if url not in self.blobs:
            raise BlobNotFound(url)
        return self.blobs[url][1]

    def mint_container_sas(
        self, container_url: str, lifetime: timedelta, expires_on: datetime | None = None
    ) -> ContainerSas:
        """A fake token; the expiry is what the real one would carry."""
        self.minted.append(container_url)
        expiry = expires_on or now_utc().replace(microsecond=0) + lifetime
        return ContainerSas(token=f"sv=x&se={expiry.isoformat()}&sig=FAKE", expires_on=expiry)


@dataclass
class MemoryGeoCatalog:
    """The GeoCatalog calls the pipeline makes, with the service's answers; every call is recorded."""

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    collections: set[str] = field(default_factory=set)
    ingestions: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)

    def impatient(self) -> MemoryGeoCatalog:
        """The stand-in never waits: the same object."""
        return self

    def create_source(self, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_source")
        url = body["connectionInfo"]["containerUrl"]
        for src in self.sources.values():
            if src["connectionInfo"]["containerUrl"] == url:
                raise ServiceError(
                    409,
                    "Conflict",
                    f"Container url {url} already contains a SAS token ingestion source with id {src['id']}",
                )
        sid = str(uuid.uuid4())
        token = body["connectionInfo"].get("sasToken", "")
        expiry = token.split("se=", 1)[1].split("&", 1)[0] if "se=" in token else ""
        self.sources[sid] = {"id": sid, "kind": body["kind"], "created": now_utc().isoformat(),
                             "connectionInfo": {"containerUrl": url, "expiration": expiry}}  # fmt: skip
        return dict(self.sources[sid])

    def get_source(self, source_id: str) -> dict[str, Any]:
        self._call("get_source")
        if source_id not in self.sources:
            raise ServiceError(404, "ResourceNotFound", f"Ingestion source '{source_id}' not found")
        return dict(self.sources[source_id])

    def replace_source(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._call("replace_source")
        return self.get_source(source_id)

    def list_sources(self) -> list[dict[str, Any]]:
        self._call("list_sources")
        return [{"id": s["id"], "kind": s["kind"]} for s in self.sources.values()]

    def delete_source(self, source_id: str) -> None:
        self._call("delete_source")
        self.sources.pop(source_id, None)

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        self._call("get_collection")
        return {"id": collection_id} if collection_id in self.collections else None

    def create_collection(self, body: dict[str, Any]) -> None:
        self._call("create_collection")
        if body["id"] in self.collections:
            raise ServiceError(
                409, "ExecutionError", f"Collection {body['id']} already exists", "POST", "/stac/collections"
            )
        self.collections.add(body["id"])

    def list_ingestions(self, collection_id: str) -> list[dict[str, Any]]:
        self._call("list_ingestions")
        return [dict(i) for i in self.ingestions.values() if i["collection"] == collection_id]

    def create_ingestion(self, collection_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_ingestion")
        if collection_id not in self.collections:
            raise ServiceError(404, "CollectionDoesNotExist", collection_id)
        iid = str(uuid.uuid4())
        self.ingestions[iid] = {"id": iid, "collection": collection_id, "status": "Ready", **body}
        return dict(self.ingestions[iid])

    def update_ingestion(self, collection_id: str, ingestion_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        self._call("update_ingestion")
        self.ingestions[ingestion_id].update(changes)
        return dict(self.ingestions[ingestion_id])

    def create_run(self, collection_id: str, ingestion_id: str) -> dict[str, Any]:
        self._call("create_run")
        if ingestion_id not in self.ingestions:
            raise ServiceError(404, "ResourceNotFound", f"ingestion {ingestion_id} not found")
        rid = str(uuid.uuid4())
        skip = bool(self.ingestions[ingestion_id].get("skipExistingItems"))  # the run snapshots the definition
        self.runs[rid] = {"id": rid, "ingestion": ingestion_id, "creationTime": now_utc().isoformat(),
                          "skipExistingItems": skip,
                          "operation": {"status": "Pending", "totalItems": 0, "totalPendingItems": 0,
                                        "totalSuccessfulItems": 0, "totalFailedItems": 0}}  # fmt: skip
        return dict(self.runs[rid])

    def get_run(self, collection_id: str, ingestion_id: str, run_id: str) -> dict[str, Any]:
        self._call("get_run")
        if run_id not in self.runs:
            raise ServiceError(404, "ResourceNotFound", f"run {run_id} not found")
        return dict(self.runs[run_id])

    def list_runs(self, collection_id: str, ingestion_id: str) -> list[dict[str, Any]]:
        self._call("list_runs")
        return [dict(r) for r in self.runs.values() if r["ingestion"] == ingestion_id]

    def finish(self, run_id: str, ok: int, failed: int = 0, status: str = "Succeeded", code: str = "") -> None:
        """Make a run end (what the service does on its own), with `code` in its last history entry."""
        op = self.runs[run_id]["operation"]
        op.update(status=status, totalItems=ok + failed, totalSuccessfulItems=ok, totalFailedItems=failed)
        last = {"status": status, **({"errorCode": code, "errorMessage": f"{failed} item(s) failed"} if code else {})}
        op["statusHistory"] = [{"status": "Pending"}, {"status": "Running"}, last]


class Reports:
    """Collects what the report writer would write."""

    def __init__(self) -> None:
        self.written: list[Any] = []

    def __call__(self, job: Any) -> None:
        from ingest_core.reports import build_report

        self.written.append(build_report(job))


def memory_runtime(**overrides: Any) -> Runtime:
    """A Runtime on the in-memory stand-ins (watched container `cat` of account `acct`)."""
    values: dict[str, Any] = {
        "geocatalog_endpoint": "https://geo.example",
        "geocatalog_static_token": "t",
        # The watched account (trusted): https://acct.blob.core.windows.net; the key is never used here.
        "catalog_connection": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        "ledger_connection": "UseDevelopmentStorage=true",
        "report_connection": "UseDevelopmentStorage=true",
        "catalog_container": "cat",
        "settle_seconds": 0,  # tests of the settle window set it themselves
    }
    values.update(overrides)
    settings = Settings(**values)
    storage, geocatalog, staging = MemoryStorage(), MemoryGeoCatalog(), MemoryStorage("app")
    ledger = Ledger(MemoryTableStore(), on_terminal=Reports())
    sources = Sources(settings, geocatalog, storage, ledger, staging=staging)  # type: ignore[arg-type]
    return Runtime(settings, storage, geocatalog, ledger, sources, staging)  # type: ignore[arg-type]


def put_catalog(rt: Runtime, folder: str, n_items: int = 2, catalog_id: str | None = None, **extra: Any) -> str:
    """Upload a small catalog (and its items) into container `cat`; the catalog's URL."""
    import json

    base = f"{ACCOUNT}/cat/{folder}"
    links = [{"rel": "item", "href": f"./items/i{k}.json"} for k in range(n_items)]
    for k in range(n_items):
        item = {"type": "Feature", "stac_version": "1.0.0", "id": f"{folder}-i{k}",
                "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": [0, 0, 0, 0],
                "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [],
                "assets": {"data": {"href": f"./i{k}.tif"}}}  # fmt: skip
        rt.storage.put(f"{base}/items/i{k}.json", json.dumps(item))  # type: ignore[attr-defined]
    doc = {"type": "Catalog", "id": catalog_id or folder.replace("/", "-"), "stac_version": "1.0.0",
           "description": "d", "links": links, **extra}  # fmt: skip
    rt.storage.put(f"{base}/catalog.json", json.dumps(doc))  # type: ignore[attr-defined]
    return f"{base}/catalog.json"


def drop_of(rt: Runtime, url: str, sequencer: str = "") -> Drop:
    """The Drop an event for the blob's current version would give."""
    account, container, path = parse_blob_url(url)
    return Drop(account=account, container=container, path=path, url=url,
                etag=rt.storage.blob_etag(url), sequencer=sequencer, api="PutBlob")  # fmt: skip


def done_then_lost(real: Any, error: BaseException) -> Any:
    """`real`, which takes effect on the service, then `error` as if its reply (or the process) was lost."""

    def call(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise error

    return call


def run_fails_for(rt: Runtime, run_id: str, error: BaseException) -> Any:
    """A `get_run` that raises `error` for one run and answers the others (monkeypatch it onto rt.geocatalog)."""
    real = rt.geocatalog.get_run

    def get_run(collection_id: str, ingestion_id: str, rid: str) -> Any:
        if rid == run_id:
            raise error
        return real(collection_id, ingestion_id, rid)

    return get_run
