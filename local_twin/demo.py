"""`make demo`: bring the twin up, drop the sample catalog, follow its job to the end, show it in STAC search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from azure.storage.blob import BlobServiceClient

from local_twin.stack import ROOT, StackOptions, describe, down, running_pids, stack_env_path, up
from local_twin.stackenv import read_stack_env

TERMINAL = {"SUCCEEDED", "PARTIAL", "FAILED", "INVALID", "IGNORED", "SUPERSEDED"}


def ingest_core(env: Mapping[str, str], *args: str) -> str:
    """Run `python -m ingest_core ARGS` against the twin, as a user would; return its stdout."""
    done = subprocess.run([sys.executable, "-m", "ingest_core", *args], env={**env, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"python -m ingest_core {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def sample_item_ids(folder: Path) -> set[str]:
    """The ids of the STAC items in a catalog folder."""
    ids = set()
    for path in folder.rglob("*.json"):
        doc = json.loads(path.read_text())
        if doc.get("type") == "Feature":
            ids.add(doc["id"])
    return ids


def find_job(env: Mapping[str, str], blob_url: str, etag: str) -> dict[str, Any] | None:
    """This upload's row in the ledger (`status --json`), or None while it is not claimed yet."""
    for job in json.loads(ingest_core(env, "status", "--json")):
        if job["blob_url"] == blob_url and job["etag"].strip('"') == etag.strip('"'):
            return job
    return None


def progress_line(job: dict[str, Any] | None, elapsed: float) -> str:
    """One line: time, state and item counters."""
    if job is None:
        return f"{elapsed:6.1f}s  waiting for the host loop to deliver the BlobCreated event"
    counts = (f"{job['successful_items']}/{job['total_items']} items ingested, {job['failed_items']} failed, "
              f"{job['pending_items']} pending")  # fmt: skip
    return f"{elapsed:6.1f}s  {job['state']:<10} {counts}"


def follow(env: Mapping[str, str], blob_url: str, etag: str, timeout: float) -> tuple[dict[str, Any] | None, float]:
    """Show a live progress line until the job is terminal; return it and the seconds it took."""
    start = time.monotonic()
    tty = sys.stdout.isatty()
    last = ""
    job = None
    while time.monotonic() - start < timeout:
        job = find_job(env, blob_url, etag)
        line = progress_line(job, time.monotonic() - start)
        if tty:
            print("\r\033[K" + line, end="", flush=True)
        elif line.split("s  ", 1)[1] != last:  # without a terminal, print only what changed
            print(line, flush=True)
        last = line.split("s  ", 1)[1]
        if job and job["state"] in TERMINAL:
            break
        time.sleep(0.5)
    if tty:
        print()
    return job, time.monotonic() - start


def stac_search(env: Mapping[str, str], collection: str) -> list[dict[str, Any]]:
    """Every item of the collection through the emulator's STAC search (following `next` links)."""
    url: str | None = f"{env['GEOCATALOG_ENDPOINT']}/stac/search"
    params: dict[str, Any] | None = {"collections": collection, "limit": 100,
                                     "api-version": env.get("GEOCATALOG_API_VERSION", "2026-04-15")}  # fmt: skip
    headers = {"Authorization": f"Bearer {env['GEOCATALOG_STATIC_TOKEN']}"}
    items: list[dict[str, Any]] = []
    while url:
        resp = requests.get(url, params=params, headers=headers, timeout=30)
        resp.raise_for_status()
        page = resp.json()
        items += page.get("features", [])
        url = next((link["href"] for link in page.get("links", []) if link.get("rel") == "next"), None)
        params = None  # the next link carries its own query
    return items


def describe_item(item: dict[str, Any]) -> str:
    """One item for the summary: id, datetime, bbox and where its assets now live."""
    props = item.get("properties", {})
    bbox = ", ".join(f"{v:.3f}" for v in item.get("bbox", []))
    assets = "; ".join(f"{k}: {a.get('href', '').split('?', 1)[0]}" for k, a in item.get("assets", {}).items())
    return f"  {item['id']}  {props.get('datetime', '-')}  bbox [{bbox}]\n      assets  {assets}"


def run_demo(opts: StackOptions, sample: Path, teardown: bool = False, timeout: float = 300.0) -> int:
    """The README's main command; 0 when every sample item is found through STAC search."""
    began = time.monotonic()
    state_dir = opts.state_dir.resolve()
    if running_pids(state_dir):
        env = read_stack_env(stack_env_path(state_dir))
        print(f"[1/4] reusing the local twin already running from {state_dir}")
    else:
        print("[1/4] starting the local twin (Azurite, GeoCatalog emulator, host loop)")
        env = up(opts)
        print(describe(env))
    try:
        return _drop_and_follow({**env}, sample, began, timeout)
    finally:
        if teardown:
            print("stopping the twin (--down):")
            for line in down(state_dir):
                print("  " + line)
        else:
            print("The twin stays up for exploring: `make status`, `make drop DIR=...`; stop it with `make down`.")


def _drop_and_follow(env: dict[str, str], sample: Path, began: float, timeout: float) -> int:
    env = {**os.environ, **env}
    container = env["CATALOG_CONTAINER"]
    prefix = sample.name
    service = BlobServiceClient.from_connection_string(env["CATALOG_STORAGE_CONNECTION"],
                                                       connection_verify=env["REQUESTS_CA_BUNDLE"])  # fmt: skip
    blob = service.get_blob_client(container, f"{prefix}/catalog.json")
    shown = sample.relative_to(ROOT) if sample.is_relative_to(ROOT) else sample
    if blob.exists():
        # A twin that already has the sample: dropping the same bytes again is a no-op by design
        # (no new run), so show the job of the version that is there.
        print(f"[2/4] {shown} is already in {container}/{prefix}/ (dropped earlier in this twin)")
    else:
        print(f"[2/4] dropping {shown} into {container}/{prefix}/ with `python -m ingest_core drop`")
        print("      " + ingest_core(env, "drop", str(sample), "--container", container, "--prefix", prefix).strip())
    etag = blob.get_blob_properties().etag
    print(f"[3/4] following the job for {blob.url}")
    job, took = follow(env, blob.url, etag, timeout)
    if job is None or job["state"] not in TERMINAL:
        print(f"error: the job did not finish within {timeout:.0f}s; see {env['TWIN_STATE_DIR']}/logs/hostloop.log")
        return 1
    print(
        f"      job         {job['job_id']}  {job['state']}" + (f"  ({job['last_error']})" if job["last_error"] else "")
    )
    print(f"      collection  {job['collection_id'] or '-'}")
    print(f"      items       {job['successful_items']} of {job['total_items']} ingested, {job['failed_items']} failed")
    print(f"      ingestion   {job['ingestion_id'] or '-'}, run {job['run_id'] or '-'}")
    print(f"      time        {took:.1f}s from upload to {job['state']} ({time.monotonic() - began:.1f}s whole demo)")
    if not job["collection_id"]:
        return 1
    items = stac_search(env, job["collection_id"])
    expected = sample_item_ids(sample)
    found = expected & {i["id"] for i in items}
    print(f"[4/4] STAC search {env['GEOCATALOG_ENDPOINT']}/stac/search?collections={job['collection_id']}")
    for item in sorted(items, key=lambda i: i["id"])[:3]:
        print(describe_item(item))
    print(f"      {len(found)} of {len(expected)} sample items found through STAC search")
    return 0 if job["state"] == "SUCCEEDED" and found == expected else 1
