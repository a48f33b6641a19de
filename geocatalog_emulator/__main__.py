"""CLI: `python -m geocatalog_emulator --host 127.0.0.1 --port 8080 ...`; serves until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .config import DEFAULT_MANAGED_IDENTITY
from .server import EmulatorServer

CONNECTION_STRING_ENV = "GEOCATALOG_EMULATOR_ASSET_CONNECTION_STRING"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every flag maps to an EmulatorServer argument."""
    parser = argparse.ArgumentParser(prog="python -m geocatalog_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--db", dest="db_path", help="SQLite file to keep state in (default: in memory)")
    parser.add_argument("--require-token", help="accept only this bearer token (default: any non-empty token)")
    parser.add_argument(
        "--asset-connection-string",
        default=os.environ.get(CONNECTION_STRING_ENV),
        help=f"storage (Azurite) connection string for the asset container (or env {CONNECTION_STRING_ENV})",
    )
    parser.add_argument("--asset-container", default="geocatalog-assets")
    parser.add_argument("--ca-bundle", default=os.environ.get("REQUESTS_CA_BUNDLE"), help="CA file for https storage")
    parser.add_argument("--item-delay-ms", type=float, default=0.0, help="pause before each item of a run")
    parser.add_argument("--run-start-delay-ms", type=float, default=0.0, help="pause before a run leaves Pending")
    parser.add_argument("--operation-delay-ms", type=float, default=0.0, help="pause before an LRO leaves Pending")
    parser.add_argument("--max-concurrent-runs", type=int, default=5)
    parser.add_argument(
        "--keep-external-asset-hrefs",
        action="store_true",
        help="leave asset hrefs that no ingestion source covers as they are, without reading them",
    )
    parser.add_argument("--partial-failure-status", choices=("Failed", "Succeeded"), default="Failed")
    parser.add_argument("--allow-sas-without-start", action="store_true", help="accept SAS tokens without st=")
    parser.add_argument(
        "--managed-identity",
        action="append",
        metavar="OBJECT_ID",
        help="object id of a managed identity assigned to the catalog (repeatable)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its URL once ready, serve until a signal arrives."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    # urllib3 logs full request URLs at DEBUG (signed blob URLs included) and azure-core logs every
    # request at INFO: keep both quiet whatever the level, so no SAS can reach the log.
    for noisy in ("urllib3", "azure"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    identities = [
        {"objectId": object_id, "resourceId": DEFAULT_MANAGED_IDENTITY["resourceId"]}
        for object_id in args.managed_identity or []
    ] or [dict(DEFAULT_MANAGED_IDENTITY)]
    server = EmulatorServer(
        host=args.host,
        port=args.port,
        db_path=args.db_path,
        require_token=args.require_token,
        asset_connection_string=args.asset_connection_string,
        asset_container=args.asset_container,
        ca_bundle=args.ca_bundle,
        item_delay=args.item_delay_ms / 1000,
        run_start_delay=args.run_start_delay_ms / 1000,
        operation_delay=args.operation_delay_ms / 1000,
        max_concurrent_runs=args.max_concurrent_runs,
        keep_external_asset_hrefs=args.keep_external_asset_hrefs,
        partial_failure_status=args.partial_failure_status,
        require_sas_start=not args.allow_sas_without_start,
        managed_identities=identities,
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(f"geocatalog emulator listening on {server.url}", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
