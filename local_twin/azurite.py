"""Start and stop Azurite (blob + queue + table) for the local twin and the tests.

Azurite always runs over https with `--oauth basic`, so the same instance serves
both the account-key path (local default) and the user-delegation SAS path that
production uses. The self-signed certificate lives in the state directory and
callers trust it through `cert_path` (or REQUESTS_CA_BUNDLE for child processes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / "node" / "bin" / "node"
AZURITE_JS = ROOT / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"

ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key: not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def ensure_cert(cert_dir: Path) -> tuple[Path, Path]:
    """Create (once) a self-signed cert for 127.0.0.1/localhost; return (cert, key)."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    cert, key = cert_dir / "cert.pem", cert_dir / "key.pem"
    if not (cert.exists() and key.exists()):
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "825",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


@dataclass
class Azurite:
    """A running Azurite process and the addresses of its three services."""

    host: str
    blob_port: int
    queue_port: int
    table_port: int
    cert_path: Path
    pid: int
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def blob_url(self) -> str:
        return f"https://{self.host}:{self.blob_port}/{ACCOUNT}"

    @property
    def queue_url(self) -> str:
        return f"https://{self.host}:{self.queue_port}/{ACCOUNT}"

    @property
    def table_url(self) -> str:
        return f"https://{self.host}:{self.table_port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};"
            f"TableEndpoint={self.table_url};"
        )

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def start_azurite(
    state_dir: Path,
    host: str = "127.0.0.1",
    ports: tuple[int, int, int] | None = None,
    log_path: Path | None = None,
    detach: bool = False,
) -> Azurite:
    """Start Azurite in memory over https with oauth; wait until all three ports answer."""
    if not (NODE.exists() and AZURITE_JS.exists()):
        raise RuntimeError("Azurite is not installed: run `make setup` (npm ci) first")
    cert, key = ensure_cert(state_dir / "certs")
    blob_port, queue_port, table_port = ports or (free_port(host), free_port(host), free_port(host))
    cmd = [
        str(NODE), str(AZURITE_JS),
        "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        "--oauth", "basic", "--cert", str(cert), "--key", str(key),
        "--blobHost", host, "--queueHost", host, "--tableHost", host,
        "--blobPort", str(blob_port), "--queuePort", str(queue_port), "--tablePort", str(table_port),
    ]  # fmt: skip
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=state_dir,
        start_new_session=detach,
    )
    try:
        for port in (blob_port, queue_port, table_port):
            wait_for_port(host, port)
    except TimeoutError:
        proc.kill()
        raise
    return Azurite(host, blob_port, queue_port, table_port, cert, proc.pid, None if detach else proc)
