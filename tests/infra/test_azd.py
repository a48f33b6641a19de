"""azure.yaml and the postdeploy hook (phase 2) line up with main.bicep; the hook runs against fake az/azd."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

from infra_bicep import INFRA, ROOT, body, main, module

AZURE_YAML = ROOT / "azure.yaml"
HOOK = INFRA / "scripts" / "postdeploy.sh"
# Variables azd itself puts in every environment.
AZD_BUILTINS = {"AZURE_RESOURCE_GROUP", "AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"}


def test_azure_yaml_points_at_the_app_and_infra() -> None:
    text = AZURE_YAML.read_text()
    service = re.search(r"^services:\n  (\w+):\n", text, re.M)
    assert service, "azure.yaml declares no service"
    assert re.search(r"^\s+host: function$", text, re.M) and re.search(r"^\s+language: python$", text, re.M)
    assert re.search(r"^\s+path: infra$", text, re.M) and re.search(r"^\s+module: main$", text, re.M)
    # azd finds the app to deploy to by this tag.
    fn = module("function-app")
    tags = body(fn.resources["site"])["tags"]["function"]  # union(tags, {'azd-service-name': ...})
    assert tags["type"] == "union" and fn.eval(tags["parameters"]["arg_2"]) == {"azd-service-name": service.group(1)}
    hook = re.search(r"^\s+run: (\S+)$", text, re.M)
    assert hook and (ROOT / hook.group(1)) == HOOK


def test_hook_is_an_executable_posix_script() -> None:
    assert HOOK.stat().st_mode & stat.S_IXUSR
    subprocess.run(["sh", "-n", str(HOOK)], check=True)


def test_hook_reads_only_values_main_outputs() -> None:
    required = set(re.findall(r'^: "\$\{(\w+):\?', HOOK.read_text(), re.M))
    outputs = set(main().doc["outputs"])
    assert required - AZD_BUILTINS <= outputs, f"hook needs {required - AZD_BUILTINS - outputs}, main.bicep lacks them"
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]["deployEventSubscription"]
    assert "DEPLOY_EVENT_SUBSCRIPTION" in mapped["value"]


def _fake_bin(tmp: Path, key_after: int) -> Path:
    """az/azd stand-ins that log their arguments; the key shows up on the `key_after`-th poll."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(
        f"""#!/bin/sh
echo "az $*" >> "{tmp}/calls"
case "$*" in
  "functionapp keys list"*)
    n=$(cat "{tmp}/polls" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "{tmp}/polls"
    [ "$n" -ge {key_after} ] && echo SECRET-KEY ;;
  "deployment group create"*)
    for a in "$@"; do case "$a" in @*) cp "${{a#@}}" "{tmp}/params.json" ;; esac; done ;;
esac
exit 0
"""
    )
    (bin_dir / "azd").write_text(f'#!/bin/sh\necho "azd $*" >> "{tmp}/calls"\n')
    (bin_dir / "curl").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


def _run_hook(tmp: Path, key_after: int, **env: str) -> subprocess.CompletedProcess[str]:
    values = {"systemTopicName": "evgt-x", "catalogContainer": "catalogs", "additionalWatchedContainers": ["more"]}
    full_env = {
        "PATH": f"{_fake_bin(tmp, key_after)}:{os.environ['PATH']}",
        "AZURE_RESOURCE_GROUP": "rg-app",
        "AZURE_FUNCTION_APP_NAME": "func-x",
        "FUNCTION_APP_HOSTNAME": "func-x.azurewebsites.net",
        "CATALOG_RESOURCE_GROUP": "rg-data",
        "EVENT_SUBSCRIPTION_PARAMETERS": json.dumps(values),
        "KEY_POLL_SECONDS": "0",
        **env,
    }
    return subprocess.run(["sh", str(HOOK)], env=full_env, capture_output=True, text=True, timeout=30, check=False)


def test_hook_waits_for_the_key_then_deploys_the_module(tmp_path: Path) -> None:
    proc = _run_hook(tmp_path, key_after=3)
    assert proc.returncode == 0, proc.stderr
    assert "SECRET-KEY" not in proc.stdout + proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert sum("functionapp keys list" in c for c in calls) == 3
    deploy = next(c for c in calls if c.startswith("az deployment group create"))
    assert "-g rg-data" in deploy and str(INFRA / "modules" / "event-subscriptions.bicep") in deploy.replace(
        "/scripts/../", "/"
    )
    params = json.loads((tmp_path / "params.json").read_text())["parameters"]
    assert params["additionalWatchedContainers"] == {"value": ["more"]}
    assert calls[-1] == "azd env set DEPLOY_EVENT_SUBSCRIPTION true"


def test_hook_gives_up_with_a_hint(tmp_path: Path) -> None:
    proc = _run_hook(tmp_path, key_after=99, KEY_WAIT_SECONDS="0")
    assert proc.returncode == 1
    assert "azd hooks run postdeploy" in proc.stderr
    assert "deployment group create" not in (tmp_path / "calls").read_text()


def test_hook_is_a_no_op_once_main_owns_the_subscriptions(tmp_path: Path) -> None:
    proc = _run_hook(tmp_path, key_after=1, DEPLOY_EVENT_SUBSCRIPTION="true")
    assert proc.returncode == 0
    assert not (tmp_path / "calls").exists()
