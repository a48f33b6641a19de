"""Operator commands: ingest (replay/backfill), status, drop (upload a folder), reconcile, sweep."""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import sys
from pathlib import Path

from ingest_core.connections import service_client
from ingest_core.errors import ConfigError, IngestError
from ingest_core.events import drop_from_blob_trigger
from ingest_core.ledger import now_utc
from ingest_core.settings import load_settings


def _ingest(args: argparse.Namespace) -> int:
    from ingest_core.entry import runtime
    from ingest_core.pipeline import handle_drop

    rt = runtime()
    drop = drop_from_blob_trigger(args.blob_url, None)  # handle_drop reads the ETag after the trust check
    job = handle_drop(rt, drop, replay=now_utc().isoformat() if args.force else "")
    if job is None:
        print(f"ignored: no routing rule watches {drop.container} or the name does not end with "
              f"{rt.settings.catalog_suffix}")  # fmt: skip
        return 1
    print(f"{job.job_id} {job.state.value}{' ' + job.last_error if job.last_error else ''}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ingest_core.entry import runtime

    jobs = runtime().ledger.jobs()
    if args.json:
        print(json.dumps([j.public() for j in jobs], indent=2))
        return 0
    for j in jobs:
        counts = f"{j.successful_items}/{j.total_items} ok, {j.failed_items} failed, {j.pending_items} pending"
        error = f"  error: {j.last_error}" + (f" (at {j.error_where})" if j.error_where else "") if j.last_error else ""
        print(f"{j.state.value:<10} {j.blob_url}  collection={j.collection_id or '-'}  {counts}{error}")
    if not jobs:
        print("no jobs yet")
    return 0


def upload_order(folder: Path) -> list[Path]:
    """Assets and items first, catalogs deepest-first, so the root catalog lands last (as pipelines should)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: (p.name.endswith("catalog.json"), -len(p.relative_to(folder).parts), str(p)))


def _drop(args: argparse.Namespace) -> int:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    settings = load_settings()
    folder = Path(args.folder)
    if not (folder / "catalog.json").is_file():
        print(f"error: {folder} has no catalog.json at its top", file=sys.stderr)
        return 2
    container = args.container or settings.catalog_container
    # Identity-based in Azure: the operator's own az login (DefaultAzureCredential).
    service = service_client(BlobServiceClient, settings.catalog_connection)
    client = service.get_container_client(container)
    if not client.exists():
        client.create_container()
    prefix = args.prefix.strip("/") + "/" if args.prefix else ""
    for path in upload_order(folder):
        name = prefix + path.relative_to(folder).as_posix()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as fh:
            client.upload_blob(name, fh, overwrite=True, content_settings=ContentSettings(content_type=kind))
    print(f"uploaded {folder} to {client.url}/{prefix}catalog.json")
    return 0


def _reconcile(_: argparse.Namespace) -> int:
    from ingest_core.entry import on_reconcile

    print(json.dumps(on_reconcile().__dict__, indent=2))
    return 0


def _sweep(_: argparse.Namespace) -> int:
    from ingest_core.entry import on_sweep

    print(json.dumps({"deleted_sources": on_sweep()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ingest_core`."""
    parser = argparse.ArgumentParser(prog="python -m ingest_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="run the pipeline once for a catalog already in storage")
    p.add_argument("blob_url")
    p.add_argument("--force", action="store_true", help="a new job even if this upload was seen (retry a FAILED one)")
    p.set_defaults(func=_ingest)
    p = sub.add_parser("status", help="list the jobs in the ledger")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_status)
    p = sub.add_parser("drop", help="upload a local catalog folder to the watched container")
    p.add_argument("folder")
    p.add_argument("--container")
    p.add_argument("--prefix", default="")
    p.set_defaults(func=_drop)
    sub.add_parser("reconcile", help="run one reconcile pass now").set_defaults(func=_reconcile)
    sub.add_parser("sweep", help="run one sweep pass now").set_defaults(func=_sweep)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ConfigError, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
