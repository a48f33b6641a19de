"""Operator commands: ingest (replay/backfill), status, drop (upload a folder), reconcile, sweep."""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import sys
from pathlib import Path

from ingest_core import status
from ingest_core.connections import service_client
from ingest_core.errors import ConfigError, IngestError
from ingest_core.events import drop_from_blob_trigger
from ingest_core.job import now_utc, parse_time
from ingest_core.settings import load_settings
from ingest_core.states import JobState


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


def _filters(args: argparse.Namespace) -> dict:
    return {
        "states": {JobState(x) for x in args.state} if args.state else None,
        "since": parse_time(args.since) if args.since else None,
        "collection": args.collection,
    }


def _status(args: argparse.Namespace) -> int:
    from ingest_core.entry import runtime
    from ingest_core.reports import report_name

    rt = runtime()
    if args.watch:
        status.watch(rt.ledger, print, interval=args.interval)
        return 0
    if args.job_id:
        job = rt.ledger.get(args.job_id)
        if job is None:
            print(f"error: no job {args.job_id}", file=sys.stderr)
            return 1
        where = f"{rt.settings.report_container}/{report_name(job)}"
        print(json.dumps(status.detail(job, where), indent=2))
        return 0
    jobs = status.select(rt.ledger.jobs(), **_filters(args), limit=args.limit)
    if args.json:
        print(json.dumps([j.public() for j in jobs], indent=2))
        return 0
    for j in jobs:
        print(status.line(j))
    if not jobs:
        print("no jobs yet" if not any(vars(args).get(k) for k in ("state", "since", "collection")) else "no match")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ingest_core.entry import runtime

    rt = runtime()
    filters = _filters(args)
    filters["states"] = filters["states"] or set(status.REPLAYABLE)
    jobs = status.select(rt.ledger.jobs(), **filters)
    n = status.replay(rt, jobs, args.dry_run, print)
    print(f"{'would replay' if args.dry_run else 'replayed'} {n} catalog(s)")
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


def _migrate(_: argparse.Namespace) -> int:
    from ingest_core.entry import runtime
    from ingest_core.migrate import migrate

    print(json.dumps(migrate(runtime().ledger)))
    return 0


def _reconcile(_: argparse.Namespace) -> int:
    from ingest_core.entry import on_reconcile

    print(json.dumps(on_reconcile().__dict__, indent=2))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from ingest_core.entry import runtime
    from ingest_core.sweep import deleted_ids, sweep

    decisions = sweep(runtime(), dry_run=args.dry_run)
    if args.dry_run:
        for d in decisions:
            print(f"{d.action:<7} {d.source_id or '-':<36} {d.container_url or '-'}  {d.reason}")
        return 0
    print(json.dumps({"deleted_sources": deleted_ids(decisions)}))
    return 0


def _filter_args(p: argparse.ArgumentParser, state: str, choices: list[str] | None = None) -> None:
    p.add_argument(f"--{state}", action="append", choices=choices or [s.value for s in JobState],
                   help="only jobs in this state (repeatable)")  # fmt: skip
    p.add_argument("--since", help="only jobs created at or after this ISO time")
    p.add_argument("--collection", help="only jobs of this collection")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ingest_core`."""
    parser = argparse.ArgumentParser(prog="python -m ingest_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="run the pipeline once for a catalog already in storage")
    p.add_argument("blob_url")
    p.add_argument("--force", action="store_true", help="a new job even if this upload was seen (retry a FAILED one)")
    p.set_defaults(func=_ingest)
    p = sub.add_parser("status", help="list the jobs in the ledger, or one job in full")
    p.add_argument("job_id", nargs="?", help="show this job in full (steps, run, counters, warnings, report)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--watch", action="store_true", help="live progress of the jobs in flight until they end")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between --watch refreshes")
    p.add_argument("--limit", type=int, help="only the newest N")
    _filter_args(p, "state")
    p.set_defaults(func=_status)
    p = sub.add_parser("replay", help="new jobs for the newest upload of each FAILED/PARTIAL/INVALID catalog")
    p.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    _filter_args(p, "state", choices=[s.value for s in status.REPLAYABLE])
    p.set_defaults(func=_replay)
    p = sub.add_parser("drop", help="upload a local catalog folder to the watched container")
    p.add_argument("folder")
    p.add_argument("--container")
    p.add_argument("--prefix", default="")
    p.set_defaults(func=_drop)
    sub.add_parser("reconcile", help="run one reconcile pass now").set_defaults(func=_reconcile)
    p = sub.add_parser("sweep", help="run one sweep pass now")
    p.add_argument("--dry-run", action="store_true", help="every source, owned or not, with the decision and why")
    p.set_defaults(func=_sweep)
    sub.add_parser("migrate", help="move job rows of the previous ledger layout (one-shot)").set_defaults(func=_migrate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ConfigError, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
