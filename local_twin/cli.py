"""`python -m local_twin up|down|hostloop|restart-hostloop|demo`: the commands behind the Makefile."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from local_twin.stack import DEFAULT_STATE_DIR, ROOT, StackError, StackOptions, describe, down, restart_hostloop, up


def _ports(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("give three ports: blob,queue,table")
    return parts[0], parts[1], parts[2]


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("use KEY=VALUE")
    return key, value


def _options(args: argparse.Namespace) -> StackOptions:
    return StackOptions(
        state_dir=args.state_dir,
        host=args.host,
        azurite_ports=args.azurite_ports,
        emulator_port=args.emulator_port,
        container=args.container,
        reconcile_schedule=args.reconcile_schedule,
        sweep_schedule=args.sweep_schedule,
        claim_lease_seconds=args.claim_lease_seconds,
        settings=dict(args.set or []),
        emulator_args=list(args.emulator_arg or []),
    )


def _up(args: argparse.Namespace) -> int:
    print(describe(up(_options(args))))
    return 0


def _down(args: argparse.Namespace) -> int:
    for line in down(args.state_dir):
        print(line)
    return 0


def _restart_hostloop(args: argparse.Namespace) -> int:
    print(f"host loop restarted (PID {restart_hostloop(args.state_dir)})")
    return 0


def _hostloop(args: argparse.Namespace) -> int:
    from local_twin import functions
    from local_twin.hostloop import HostLoop, HostOptions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every request at INFO
    # azure-functions warns on every indexing that auth levels apply to HTTP triggers only: not ours.
    logging.getLogger().handlers[0].addFilter(lambda r: not r.getMessage().startswith("Auth level is not applied"))
    env = dict(os.environ)
    registry = functions.registry(functions.load_app(), env)
    loop = HostLoop(registry, env, args.state_dir.resolve(), HostOptions.from_host_json(ROOT / "host.json", env))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.stop.set())
    loop.run()
    loop.shutdown()
    logging.shutdown()
    os._exit(0)  # a delivery still inside a function must not keep the process alive after the grace period


def _demo(args: argparse.Namespace) -> int:
    from local_twin.demo import run_demo

    return run_demo(_options(args), args.sample, teardown=args.down)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m local_twin`."""
    parser = argparse.ArgumentParser(prog="python -m local_twin", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where stack.env, logs and state live"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("up", _up, "start Azurite, the GeoCatalog emulator and the host loop in the background"),
        ("demo", _demo, "up (unless running), drop the sample catalog, follow the job, search the items"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
        p.add_argument("--azurite-ports", type=_ports, help="blob,queue,table (default: free ports)")
        p.add_argument("--emulator-port", type=int, help="default: a free port")
        p.add_argument("--container", default="catalogs", help="the watched container (CATALOG_CONTAINER)")
        p.add_argument("--reconcile-schedule", default=StackOptions.reconcile_schedule, help="NCRONTAB, 6 fields")
        p.add_argument("--sweep-schedule", default=StackOptions.sweep_schedule, help="NCRONTAB, 6 fields")
        p.add_argument("--claim-lease-seconds", type=float, default=StackOptions.claim_lease_seconds)
        p.add_argument("--set", type=_setting, action="append", metavar="KEY=VALUE", help="another app setting")
        p.add_argument(
            "--emulator-arg", action="append", metavar="ARG", help="extra emulator flag, e.g. --item-delay=1"
        )
    demo = sub.choices["demo"]
    demo.add_argument("--sample", type=Path, default=ROOT / "samples" / "demo-catalog")
    demo.add_argument("--down", action="store_true", help="stop the twin at the end instead of leaving it up")
    sub.add_parser("down", help="stop exactly the processes recorded in stack.env").set_defaults(func=_down)
    sub.add_parser("hostloop", help="run the host loop in the foreground").set_defaults(func=_hostloop)
    sub.add_parser("restart-hostloop", help="stop and start the host loop").set_defaults(func=_restart_hostloop)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
