"""checkov over infra/ finds nothing beyond the committed baseline of accepted findings."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from infra_bicep import INFRA, ROOT, load_json

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
BASELINE = INFRA / "checkov-baseline.json"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(
            f"checkov is not installed at {CHECKOV} (python -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install -r requirements-checkov.txt)"
        )
    cmd = [
        str(CHECKOV),
        "-d",
        str(INFRA),
        "--framework",
        "bicep",
        "--quiet",
        "--skip-download",
        "-o",
        "json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout)
    # One framework gives one report object; several give a list.
    return out if isinstance(out, dict) else next(r for r in out if r["check_type"] == "bicep")


def _key(check_id: str, file: str, resource: str) -> tuple[str, str, str]:
    return check_id, file, resource


def test_checkov_parsed_everything(report: dict[str, Any]) -> None:
    # checkov exits 0 on a file it cannot parse; test_bicep_parses covers syntax, this covers checkov.
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0


def test_no_new_findings(report: dict[str, Any]) -> None:
    accepted = {_key(a["check_id"], a["file"], a["resource"]) for a in load_json(BASELINE)["accepted"]}
    failed = report["results"].get("failed_checks", [])
    found = {_key(f["check_id"], f["file_path"], f["resource"]) for f in failed}
    new = found - accepted
    names = {_key(f["check_id"], f["file_path"], f["resource"]): f["check_name"] for f in failed}
    assert not new, (
        "new checkov findings (fix them, or accept them in infra/checkov-baseline.json with a reason):\n"
        + ("\n".join(f"  {c} {r} in {p}: {names[(c, p, r)]}" for c, p, r in sorted(new)))
    )
    stale = accepted - found
    assert not stale, f"baseline entries that no longer occur (remove them): {sorted(stale)}"


def test_every_accepted_finding_has_a_reason() -> None:
    for entry in load_json(BASELINE)["accepted"]:
        assert len(entry.get("reason", "").strip()) >= 40, f"{entry['check_id']} in {entry['file']} needs a real reason"
