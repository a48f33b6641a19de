"""Stand-in `az`, `azd` and `curl` for running the azd hooks offline (no Azure here).

`World` writes a state file and small wrappers into a temp dir that goes first on PATH. The
wrappers run this file, which records every call's arguments and answers like the real CLIs for
the few commands the hooks use, against the state: which subscriptions exist (and which one az
would pick by default), their resource groups and function apps, when an app's blobs_extension
key appears, injected errors, and each azd environment's values. Any other command or query
exits 2, so a hook that starts calling something new fails its tests instead of passing by luck.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_QUERY = "systemKeys.blobs_extension && 'string' || 'null'"
# Values the fake key list returns; tests check none of them reaches the hook's output.
SECRETS = ("BLOB-EXTENSION-SECRET", "MASTER-SECRET", "FUNCTION-SECRET")


def _flag(args: list[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
    return None


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def _az(state: dict[str, Any], args: list[str]) -> int:
    sub = _flag(args, "--subscription") or state["default_subscription"]
    subs = state["subscriptions"]
    if sub not in subs:
        return _fail(f"ERROR: Subscription '{sub}' not found. Check the spelling and casing and try again.")
    world = subs[sub]
    query, group, name = _flag(args, "--query"), _flag(args, "-g", "--resource-group"), _flag(args, "-n", "--name")
    if args[:2] == ["account", "show"]:
        doc = {"id": sub, "name": f"{sub} name", "state": "Enabled", "isDefault": sub == state["default_subscription"]}
        if query not in (None, "id"):
            return _fail(f"fake az: unsupported query {query!r}", 2)
        print(json.dumps(doc) if query is None else sub)
        return 0
    if group is not None and group not in world["groups"]:
        return _fail(
            f"ERROR: (ResourceGroupNotFound) Resource group '{group}' could not be found.\nCode: ResourceGroupNotFound",
            3,
        )
    if args[:3] == ["functionapp", "keys", "list"]:
        failure = state.get("fail_keys")
        if failure and failure["times"] != 0:
            failure["times"] -= 1
            return _fail(failure["message"])
        app = world["apps"].get(f"{group}/{name}")
        if app is None:
            return _fail(
                f"ERROR: (ResourceNotFound) The Resource 'Microsoft.Web/sites/{name}' under resource group "
                f"'{group}' was not found.\nCode: ResourceNotFound",
                3,
            )
        app["polls"] = app.get("polls", 0) + 1
        system = {"durabletask_extension": "x"}
        if app["polls"] >= app["key_after"]:
            system["blobs_extension"] = SECRETS[0]
        doc = {"functionKeys": {"default": SECRETS[2]}, "masterKey": SECRETS[1], "systemKeys": system}
        if query is None:
            print(json.dumps(doc))
        elif query == KEY_QUERY:
            print("string" if "blobs_extension" in system else "null")
        else:
            return _fail(f"fake az: unsupported query {query!r}", 2)
        return 0
    if args[:3] == ["deployment", "group", "create"]:
        params = next(a[1:] for a in args if a.startswith("@"))
        state.setdefault("deployments", []).append(
            {
                "subscription": sub,
                "group": group,
                "name": name,
                "template": _flag(args, "--template-file"),
                "parameters": json.loads(Path(params).read_text()),
            }
        )
        return 0
    return _fail(f"fake az: unsupported command {args}", 2)


def _azd(state: dict[str, Any], args: list[str]) -> int:
    if args[:2] != ["env", "set"]:
        return _fail(f"fake azd: unsupported command {args}", 2)
    rest, env = args[2:], state["azd_default_env"]
    if "-e" in rest or "--environment" in rest:
        i = rest.index("-e") if "-e" in rest else rest.index("--environment")
        env = rest[i + 1]
        rest = rest[:i] + rest[i + 2 :]
    key, value = rest
    state["azd_envs"].setdefault(env, {})[key] = value
    return 0


def main(argv: list[str]) -> int:
    """Entry point of the wrappers: `fake_azure.py TOOL ARGS...`."""
    tool, args = argv[0], argv[1:]
    path = Path(os.environ["FAKE_AZURE_STATE"])
    state = json.loads(path.read_text())
    state.setdefault("calls", []).append([tool, *args])
    code = 0 if tool == "curl" else (_az if tool == "az" else _azd)(state, args)
    path.write_text(json.dumps(state))
    return code


@dataclass
class Run:
    """One hook run: exit code, output, and the calls it made."""

    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def az(self, *prefix: str) -> list[list[str]]:
        return [c[1:] for c in self.calls if c[0] == "az" and c[1 : 1 + len(prefix)] == list(prefix)]


class World:
    """A fake Azure + azd environment store; `run()` runs a hook the way azd does."""

    def __init__(self, tmp: Path, env_name: str = "dev", subscription: str = "sub-target") -> None:
        self.tmp, self.env_name, self.subscription = tmp, env_name, subscription
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.state_path = tmp / "state.json"
        for tool in ("az", "azd", "curl"):
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {tool} "$@"\n')
            wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.state: dict[str, Any] = {
            # az's own default is another subscription, where none of this exists.
            "default_subscription": "sub-default",
            "subscriptions": {
                subscription: {"groups": ["rg-app", "rg-data"], "apps": {}},
                "sub-default": {"groups": ["rg-app", "rg-data"], "apps": {}},
            },
            "azd_default_env": "other-env",
            "azd_envs": {env_name: {"AZURE_SUBSCRIPTION_ID": subscription}, "other-env": {}},
        }
        self.save()

    def save(self) -> None:
        self.state_path.write_text(json.dumps(self.state))

    def load(self) -> dict[str, Any]:
        self.state = json.loads(self.state_path.read_text())
        return self.state

    @property
    def env(self) -> dict[str, str]:
        """The azd environment being deployed (what azd would pass a hook)."""
        return self.load()["azd_envs"][self.env_name]

    def provision(self, app: str = "func-x", key_after: int | None = None) -> None:
        """What `azd provision` leaves: the app (key after `key_after` polls, None: no code) and its outputs."""
        self.load()
        sub = self.state["subscriptions"][self.subscription]
        if "rg-app" not in sub["groups"]:
            sub["groups"].append("rg-app")
        sub["apps"][f"rg-app/{app}"] = {"key_after": key_after or 10**9}
        values = {"systemTopicName": "evgt-x", "catalogContainer": "catalogs", "additionalWatchedContainers": ["more"]}
        self.state["azd_envs"][self.env_name].update(
            {
                "AZURE_RESOURCE_GROUP": "rg-app",
                "AZURE_FUNCTION_APP_NAME": app,
                # Nothing listens there: a wake-up request fails fast and is ignored.
                "FUNCTION_APP_HOSTNAME": "127.0.0.1:9",
                "CATALOG_RESOURCE_GROUP": "rg-data",
                "EVENT_SUBSCRIPTION_PARAMETERS": json.dumps(values),
            }
        )
        self.save()

    def deploy_code(self, key_after: int = 1) -> None:
        """What `azd deploy` does: the host starts and its key appears after `key_after` polls."""
        self.load()
        for app in self.state["subscriptions"][self.subscription]["apps"].values():
            app.update(key_after=key_after, polls=0)
        self.save()

    def down(self) -> None:
        """What `azd down` does: the app's resource group is gone."""
        self.load()
        sub = self.state["subscriptions"][self.subscription]
        sub["groups"].remove("rg-app")
        sub["apps"].clear()
        self.save()

    def run(self, command: list[str], **extra: str) -> Run:
        """Run a hook command with the environment's values, the fakes first on PATH."""
        self.load()
        self.state["calls"] = []
        self.save()
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.tmp),
            "FAKE_AZURE_STATE": str(self.state_path),
            "AZURE_ENV_NAME": self.env_name,
            # Tiny waits: no sleeping between polls, and a hook that never sees its key gives up in seconds.
            "KEY_POLL_SECONDS": "0",
            "KEY_WAIT_SECONDS": "5",
            **self.env,
            **extra,
        }
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr, self.load().get("calls", []))


def pwsh() -> str | None:
    """The PowerShell 7 executable, when this machine has one."""
    return shutil.which("pwsh")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
