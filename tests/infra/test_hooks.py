"""The azd hooks, run against stand-in az/azd (tests/infra/fake_azure.py: no Azure here).

Scenarios: a first deploy (the key appears after a delay), a second run, a run after `azd down`,
a cloned environment, az's default subscription differing from azd's, and key lookups that fail.
The POSIX hooks always run; the PowerShell twins run too when `pwsh` is installed, and a static
test keeps both shells' step lists equal either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_azure import SECRETS, Run, World, pwsh
from infra_bicep import INFRA

HOOKS = INFRA / "hooks"
HOOK_NAMES = ("preprovision", "postdeploy", "postdown")
# An az command (not the word "az" in prose): az followed by one of its command groups.
AZ_COMMAND = re.compile(
    r"(?<![\w-])az (?:account|functionapp|deployment|eventgrid|storage|role|group|resource|monitor)\b"
)
SHELLS = [
    "sh",
    pytest.param(
        "pwsh",
        marks=pytest.mark.skipif(
            pwsh() is None,
            reason="pwsh is not installed here "
            "(no PowerShell package in the reachable registries); the step-list comparison still runs",
        ),
    ),
]


@pytest.fixture(params=SHELLS)
def run_hook(request: pytest.FixtureRequest) -> Callable[..., Run]:
    """run_hook(world, name, **env): run hook `name` in the parametrized shell."""

    def run(world: World, name: str, **env: str) -> Run:
        if request.param == "sh":
            return world.run(["sh", str(HOOKS / f"{name}.sh")], **env)
        return world.run([str(pwsh()), "-NoProfile", "-NonInteractive", "-File", str(HOOKS / f"{name}.ps1")], **env)

    return run


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _assert_pinned(run: Run, world: World) -> None:
    """Every az call names azd's subscription; nothing secret reaches the output."""
    az_calls = [c[1:] for c in run.calls if c[0] == "az"]
    assert az_calls, "the hook made no az call; the check would be vacuous"
    for args in az_calls:
        assert args[args.index("--subscription") + 1] == world.subscription, args
    for secret in SECRETS:
        assert secret not in run.output


def _azd_sets(run: Run) -> list[list[str]]:
    return [c[1:] for c in run.calls if c[0] == "azd"]


def _first_up(world: World, run_hook: Callable[..., Run]) -> None:
    """A completed first `azd up`: provision, code deployed (key at once), phase 2 done."""
    world.provision()
    world.deploy_code()
    run = run_hook(world, "postdeploy")
    assert run.returncode == 0, run.output


# ---------------------------------------------------------------------------- postdeploy


def test_first_deploy_waits_for_the_key_then_creates_the_subscriptions(
    world: World, run_hook: Callable[..., Run]
) -> None:
    world.provision()
    world.deploy_code(key_after=3)
    run = run_hook(world, "postdeploy")
    assert run.returncode == 0, run.output
    _assert_pinned(run, world)
    assert len(run.az("functionapp", "keys", "list")) == 3
    (deployment,) = world.state["deployments"]
    assert deployment["subscription"] == world.subscription and deployment["group"] == "rg-data"
    assert deployment["name"] == "evsubs-func-x"
    assert Path(deployment["template"]).resolve() == (INFRA / "modules" / "event-subscriptions.bicep").resolve()
    assert deployment["parameters"]["parameters"]["additionalWatchedContainers"] == {"value": ["more"]}
    # Set in the environment being deployed, not azd's default one.
    assert _azd_sets(run) == [["env", "set", "-e", "dev", "DEPLOY_EVENT_SUBSCRIPTION", "true"]]
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "true"
    assert "DEPLOY_EVENT_SUBSCRIPTION" not in world.state["azd_envs"]["other-env"]


def test_second_run_keeps_phase_two_and_does_nothing_more(world: World, run_hook: Callable[..., Run]) -> None:
    _first_up(world, run_hook)
    pre = run_hook(world, "preprovision")
    assert pre.returncode == 0, pre.output
    _assert_pinned(pre, world)
    assert _azd_sets(pre) == [], "the key exists: the flag must stay true"
    post = run_hook(world, "postdeploy")
    assert post.returncode == 0 and post.calls == []
    assert len(world.state["deployments"]) == 1, "phase 2 ran twice"


def test_up_after_down_starts_again_at_phase_one(world: World, run_hook: Callable[..., Run]) -> None:
    _first_up(world, run_hook)
    world.down()
    down = run_hook(world, "postdown")
    assert down.returncode == 0, down.output
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "false"
    # A later `azd up`: provision skips phase 2, deploy ships code, the hook creates the subscriptions.
    world.provision()
    world.deploy_code(key_after=2)
    post = run_hook(world, "postdeploy")
    assert post.returncode == 0, post.output
    assert len(world.state["deployments"]) == 2
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "true"


def test_preprovision_resets_the_flag_when_the_app_is_gone(world: World, run_hook: Callable[..., Run]) -> None:
    """`azd up` after `azd down` without the postdown hook (or an environment copied from elsewhere)."""
    _first_up(world, run_hook)
    world.down()
    pre = run_hook(world, "preprovision")
    assert pre.returncode == 0, pre.output
    _assert_pinned(pre, world)
    assert "ResourceGroupNotFound" in pre.stderr, "az's error is shown"
    assert "DEPLOY_EVENT_SUBSCRIPTION=false" in pre.stdout
    assert _azd_sets(pre) == [["env", "set", "-e", "dev", "DEPLOY_EVENT_SUBSCRIPTION", "false"]]


def test_preprovision_resets_the_flag_when_the_app_has_no_code(world: World, run_hook: Callable[..., Run]) -> None:
    world.provision()  # app exists, no code: no blobs_extension key
    world.state["azd_envs"]["dev"]["DEPLOY_EVENT_SUBSCRIPTION"] = "true"
    world.save()
    pre = run_hook(world, "preprovision")
    assert pre.returncode == 0, pre.output
    assert "no blobs_extension key" in pre.stdout
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "false"


def test_preprovision_resets_a_cloned_environment_without_az_calls(world: World, run_hook: Callable[..., Run]) -> None:
    world.state["azd_envs"]["dev"]["DEPLOY_EVENT_SUBSCRIPTION"] = "true"
    world.save()
    first = run_hook(world, "preprovision")
    assert first.returncode == 0, first.output
    assert [c for c in first.calls if c[0] == "az"] == []
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "false"
    # The same on a first `azd up` before azd has chosen the subscription.
    world.load()
    world.state["azd_envs"]["dev"] = {"DEPLOY_EVENT_SUBSCRIPTION": "true"}
    world.save()
    pre = run_hook(world, "preprovision")
    assert pre.returncode == 0, pre.output
    assert [c for c in pre.calls if c[0] == "az"] == []
    assert world.env["DEPLOY_EVENT_SUBSCRIPTION"] == "false"


def test_a_different_default_subscription_changes_nothing(world: World, run_hook: Callable[..., Run]) -> None:
    """az's default (sub-default) has an app of the same name without a key: only pinning finds the right one."""
    world.provision()
    world.deploy_code(key_after=1)
    world.load()
    world.state["subscriptions"]["sub-default"]["apps"]["rg-app/func-x"] = {"key_after": 10**9}
    world.save()
    run = run_hook(world, "postdeploy", KEY_WAIT_SECONDS="0")
    assert run.returncode == 0, run.output
    _assert_pinned(run, world)
    assert world.state["deployments"][0]["subscription"] == world.subscription


def test_a_failing_key_lookup_is_shown_and_stops_the_hook(world: World, run_hook: Callable[..., Run]) -> None:
    world.provision()
    world.deploy_code()
    world.load()
    world.state["fail_keys"] = {
        "times": -1,
        "message": "ERROR: (AuthorizationFailed) The client 'me@example.com' does not have authorization to perform "
        "action 'Microsoft.Web/sites/host/listkeys/action'.",
    }
    world.save()
    run = run_hook(world, "postdeploy")
    assert run.returncode != 0
    assert "AuthorizationFailed" in run.stderr, "az's error must be shown, not swallowed"
    assert world.subscription in run.stderr and "azd hooks run postdeploy" in run.stderr
    assert len(run.az("functionapp", "keys", "list")) == 1, "a permanent error must not be retried for minutes"
    assert "deployments" not in world.state and _azd_sets(run) == []


def test_a_transient_lookup_error_is_shown_and_retried(world: World, run_hook: Callable[..., Run]) -> None:
    world.provision()
    world.deploy_code(key_after=1)
    world.load()
    world.state["fail_keys"] = {"times": 2, "message": "ERROR: Operation returned an invalid status 'Bad Request'"}
    world.save()
    run = run_hook(world, "postdeploy")
    assert run.returncode == 0, run.output
    assert run.stderr.count("invalid status 'Bad Request'") == 2
    assert len(world.state["deployments"]) == 1


def test_no_key_in_time_names_the_subscription_and_what_to_check(world: World, run_hook: Callable[..., Run]) -> None:
    world.provision()  # no code: the key never appears
    run = run_hook(world, "postdeploy", KEY_WAIT_SECONDS="0")
    assert run.returncode == 1
    assert world.subscription in run.stderr and "on_catalog_blob" in run.stderr
    assert "azd hooks run postdeploy" in run.stderr
    assert "deployments" not in world.state


def test_an_unusable_subscription_stops_before_any_lookup(world: World, run_hook: Callable[..., Run]) -> None:
    world.provision()
    world.deploy_code()
    run = run_hook(world, "postdeploy", AZURE_SUBSCRIPTION_ID="sub-unknown")
    assert run.returncode == 1
    assert "Subscription 'sub-unknown' not found" in run.stderr and "az login" in run.stderr
    assert run.az("functionapp") == []


def test_missing_environment_values_are_named(world: World, run_hook: Callable[..., Run]) -> None:
    run = run_hook(world, "postdeploy")
    assert run.returncode == 1
    assert "AZURE_RESOURCE_GROUP is not set" in run.stderr
    assert run.calls == []


# ---------------------------------------------------------------------------- preprovision guard


@pytest.mark.parametrize("group", ["", "rg-app"])
def test_an_existing_catalog_account_may_not_share_the_apps_group(
    world: World, run_hook: Callable[..., Run], group: str
) -> None:
    world.provision()
    run = run_hook(
        world,
        "preprovision",
        EXISTING_CATALOG_ACCOUNT_NAME="mydata",
        EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP=group,
    )
    assert run.returncode == 1
    assert "EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP" in run.stderr and "azd down deletes" in run.stderr
    assert run.calls == []


def test_an_existing_catalog_account_in_its_own_group_passes(world: World, run_hook: Callable[..., Run]) -> None:
    run = run_hook(
        world,
        "preprovision",
        EXISTING_CATALOG_ACCOUNT_NAME="mydata",
        EXISTING_CATALOG_ACCOUNT_RESOURCE_GROUP="rg-data",
    )
    assert run.returncode == 0, run.output


# ---------------------------------------------------------------------------- static checks (both shells)


def _joined(path: Path) -> str:
    """The file with line continuations (\\ in sh, ` in PowerShell) joined."""
    return re.sub(r"[\\`]\n\s*", " ", path.read_text())


def _logical_lines(path: Path) -> list[str]:
    """Joined lines without comments."""
    return [line for line in _joined(path).splitlines() if not line.lstrip().startswith("#")]


def _steps(path: Path) -> list[str]:
    return re.findall(r"^\s*# step: ([a-z-]+):", path.read_text(), re.M)


def _hook_files() -> list[Path]:
    return sorted([*HOOKS.glob("*.sh"), *HOOKS.glob("*.ps1")])


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_both_shells_do_the_same_steps(name: str) -> None:
    posix, windows = _steps(HOOKS / f"{name}.sh"), _steps(HOOKS / f"{name}.ps1")
    assert len(posix) >= 2, f"{name}.sh has no `# step:` list; the comparison would be vacuous"
    assert posix == windows, f"{name}: POSIX steps {posix} != PowerShell steps {windows}"
    # And they read the same azd environment values.
    needs = {n for line in re.findall(r"^need (.+)$", _joined(HOOKS / f"{name}.sh"), re.M) for n in line.split()}
    asserts = set(
        re.findall(r"'(\w+)'", " ".join(re.findall(r"Assert-Env @\(([^)]*)\)", _joined(HOOKS / f"{name}.ps1"))))
    )
    assert needs and needs == asserts, f"{name}: sh needs {sorted(needs)}, ps1 asserts {sorted(asserts)}"


def test_every_az_command_in_every_hook_names_the_subscription() -> None:
    """Including the commands the hooks print as hints: users copy them."""
    checked = 0
    for path in _hook_files():
        for line in _logical_lines(path):
            for m in re.finditer(AZ_COMMAND, line):
                command = line[m.start() :]
                assert "--subscription" in command.split(";")[0], f"{path.name}: {command.strip()}"
                checked += 1
    assert checked >= 8


def test_every_azd_env_set_names_the_environment() -> None:
    checked = 0
    for path in _hook_files():
        for line in _logical_lines(path):
            for m in re.finditer(r"azd env set (\S+) (\S+)", line):
                assert m.group(1) == "-e" and "AZURE_ENV_NAME" in m.group(2), f"{path.name}: {line.strip()}"
                checked += 1
    assert checked >= 3


def test_posix_hooks_parse_and_are_executable() -> None:
    import subprocess

    for name in HOOK_NAMES:
        path = HOOKS / f"{name}.sh"
        assert path.stat().st_mode & 0o100, f"{path.name} is not executable"
        subprocess.run(["sh", "-n", str(path)], check=True)


def _code_only(text: str) -> str:
    """PowerShell source without its strings and # comments (a small lexer: enough for these scripts)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif ch in "'\"":
            i += 1
            while i < n:
                escaped = ch == '"' and text[i] == "`"  # `" inside "..."
                doubled = text[i] == ch and text[i + 1 : i + 2] == ch  # '' or ""
                if escaped or doubled:
                    i += 2
                elif text[i] == ch:
                    break
                else:
                    i += 1
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@pytest.mark.parametrize("path", sorted(HOOKS.glob("*.ps1")), ids=lambda p: p.name)
def test_powershell_hooks_are_balanced(path: Path) -> None:
    """A cheap structural check that runs without pwsh: every bracket closes, in order."""
    pairs, stack = {")": "(", "}": "{", "]": "["}, []
    for i, ch in enumerate(_code_only(path.read_text())):
        if ch in "({[":
            stack.append(ch)
        elif ch in pairs:
            assert stack and stack.pop() == pairs[ch], f"{path.name}: unbalanced {ch!r} at offset {i}"
    assert not stack, f"{path.name}: unclosed {stack}"


@pytest.mark.skipif(pwsh() is None, reason="pwsh is not installed here; the step-list comparison still runs")
def test_powershell_hooks_parse() -> None:
    import subprocess

    for path in HOOKS.glob("*.ps1"):
        script = f"$e = $null; [System.Management.Automation.Language.Parser]::ParseFile('{path}', [ref]$null, [ref]$e) | Out-Null; if ($e) {{ $e; exit 1 }}"
        subprocess.run([str(pwsh()), "-NoProfile", "-Command", script], check=True)


def test_hook_outputs_are_main_outputs() -> None:
    """Values the hooks require come from main.bicep's outputs (or azd itself)."""
    from infra_bicep import main

    builtins = {"AZURE_RESOURCE_GROUP", "AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"}
    outputs = set(main().doc["outputs"])
    for path in HOOKS.glob("*.sh"):
        required = {n for line in re.findall(r"^need (.+)$", _joined(path), re.M) for n in line.split()}
        assert required - builtins <= outputs, f"{path.name} needs {required - builtins - outputs}"
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert "DEPLOY_EVENT_SUBSCRIPTION" in params["deployEventSubscription"]["value"]
