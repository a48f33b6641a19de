"""Rewrite the `code` section of infra/contract.json from ingest_core.settings.ENV_NAMES.

Run it after adding or renaming a setting in the code, then wire the new name in infra/main.bicep
(or list it under `unset` with a reason); tests/infra fails until both sides agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "infra" / "contract.json"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from ingest_core.settings import ENV_NAMES

    contract = json.loads(CONTRACT.read_text())
    if contract["code"] == ENV_NAMES:
        print("infra/contract.json is up to date")
        return 0
    added = sorted(set(ENV_NAMES) - set(contract["code"]))
    removed = sorted(set(contract["code"]) - set(ENV_NAMES))
    contract["code"] = dict(ENV_NAMES)
    CONTRACT.write_text(json.dumps(contract, indent=2) + "\n")
    print(f"updated infra/contract.json (added: {added or '-'}, removed: {removed or '-'})")
    print("now set each new name in infra/main.bicep (appSettings) or list it under `unset` with a reason")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
