"""End-to-end helpers: start the twin with the `make up` command and talk to it over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from azure.storage.blob import BlobClient, BlobServiceClient

from ingest_core.job import Job
from local_twin.deliveries import DELIVERED
from local_twin.stackenv import PID_KEYS, read_stack_env

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "demo-catalog"
TERMINAL = {"SUCCEEDED", "PARTIAL", "FAILED", "INVALID", "IGNORED", "SUPERSEDED"}
# Short schedules and lease so the pipeline's timers and take-overs happen within seconds.
TWIN_FLAGS = ["--reconcile-schedule", "* * * * * *", "--claim-lease-seconds", "3",
              "--set", "HTTP_BACKOFF_CAP_SECONDS=1"]  # fmt: skip


def local_twin(state_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m local_twin --state-dir DIR ARGS`: the command behind `make up` / `make down`."""
    done = subprocess.run([sys.executable, "-m", "local_twin", "--state-dir", str(state_dir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"local_twin {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.25) -> Any:
    """Poll until `check()` is truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Twin:
    """A running twin: its stack.env, and clients for its storage, ledger, emulator and host loop."""

    state_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return read_stack_env(self.state_dir / "stack.env")

    def pids(self) -> dict[str, int]:
        return {key: int(self.env[key]) for key in PID_KEYS}

    def blob_service(self) -> BlobServiceClient:
        env = self.env
        return BlobServiceClient.from_connection_string(env["CATALOG_STORAGE_CONNECTION"],
                                                        connection_verify=env["REQUESTS_CA_BUNDLE"])  # fmt: skip

    def upload_catalog(
        self, folder: Path, prefix: str, edit: Callable[[str, bytes], bytes] | None = None
    ) -> BlobClient:
        """Upload a catalog folder as a user would with azure-storage-blob: everything else first, catalogs last."""
        container = self.blob_service().get_container_client(self.env["CATALOG_CONTAINER"])
        files = sorted((p for p in folder.rglob("*") if p.is_file()),
                       key=lambda p: (p.name.endswith("catalog.json"), -len(p.parts), str(p)))  # fmt: skip
        for path in files:
            name = f"{prefix}/{path.relative_to(folder).as_posix()}"
            data = path.read_bytes()
            container.upload_blob(name, edit(name, data) if edit else data, overwrite=True)
        return container.get_blob_client(f"{prefix}/catalog.json")

    def jobs(self) -> list[dict[str, Any]]:
        """Every job row, as `python -m ingest_core status --json` shows it (read straight from the table)."""
        env = self.env
        table = TableClient.from_connection_string(env["LEDGER_STORAGE_CONNECTION"], env.get("LEDGER_TABLE", "ingestjobs"),
                                                   connection_verify=env["REQUESTS_CA_BUNDLE"])  # fmt: skip
        with table:
            try:
                rows = list(table.query_entities("kind eq 'job'"))
                pending = {r["job_id"] for r in table.query_entities("kind eq 'outbox'")}
            except ResourceNotFoundError:  # the first claim creates the table
                return []
            # A finished row (blob partition) wins over an open one a crash may have left behind.
            rows.sort(key=lambda r: r["PartitionKey"] != "open")
            jobs = {r["RowKey"]: Job.from_entity({**r, "_etag": ""}).public() for r in rows}
            for job_id, job in jobs.items():  # the ledger keeps an outbox row while a job's event is pending
                job["event_published"] = job_id not in pending
            return list(jobs.values())

    def job(self, blob: BlobClient) -> dict[str, Any] | None:
        """The job of the blob's current version."""
        etag = blob.get_blob_properties().etag.strip('"')
        return next((j for j in self.jobs() if j["blob_url"] == blob.url and j["etag"].strip('"') == etag), None)

    def wait_terminal(self, blob: BlobClient, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the job of the blob's current version is in a terminal state."""

        def done() -> dict[str, Any] | None:
            job = self.job(blob)
            return job if job and job["state"] in TERMINAL else None

        return wait_for(done, f"a terminal job for {blob.blob_name}", timeout)

    def wait_delivered(self, blob: BlobClient, timeout: float = 30.0) -> None:
        """Wait until the host loop has delivered the blob's current version (its function returned)."""
        etag = blob.get_blob_properties().etag.strip('"')

        def delivered() -> bool:
            records = json.loads((self.state_dir / "deliveries.json").read_text())
            rec = records.get(blob.url, {})
            return rec.get("etag", "").strip('"') == etag and rec.get("outcome") == DELIVERED

        wait_for(delivered, f"delivery of {blob.blob_name}", timeout)

    def emulator(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's admin API (/_emulator/...)."""
        resp = requests.request(method, self.env["GEOCATALOG_ENDPOINT"] + path, json=body, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def state(self, collection: str) -> dict[str, Any]:
        """What the emulator holds for one collection (and every source: one per container)."""
        state = self.emulator("GET", "/_emulator/state")
        return {
            "sources": state["sources"],
            "collections": [c for c in state["collections"] if c == collection],
            "ingestions": [i for i in state["ingestions"] if i["collectionId"] == collection],
            "runs": [r for r in state["runs"] if r["collectionId"] == collection],
            "items": state["itemCounts"].get(collection, 0),
        }

    def stac_ids(self, collection: str) -> set[str]:
        """Item ids the emulator's STAC search returns for the collection."""
        env = self.env
        resp = requests.get(f"{env['GEOCATALOG_ENDPOINT']}/stac/search",
                            params={"collections": collection, "limit": 100, "api-version": "2026-04-15"},
                            headers={"Authorization": f"Bearer {env['GEOCATALOG_STATIC_TOKEN']}"}, timeout=30)  # fmt: skip
        resp.raise_for_status()
        return {f["id"] for f in resp.json()["features"]}


def item_ids(folder: Path) -> set[str]:
    """The STAC item ids in a catalog folder."""
    docs = (json.loads(p.read_text()) for p in folder.rglob("*.json"))
    return {d["id"] for d in docs if d.get("type") == "Feature"}


def with_catalog_id(catalog_id: str) -> Callable[[str, bytes], bytes]:
    """An upload edit that gives the root catalog another id (so each test gets its own collection)."""

    def edit(name: str, data: bytes) -> bytes:
        if not name.endswith("/catalog.json") or name.count("/") != 1:
            return data
        doc = json.loads(data)
        doc["id"] = catalog_id
        return json.dumps(doc, indent=2).encode()

    return edit
