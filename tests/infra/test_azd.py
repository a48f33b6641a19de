"""azure.yaml lines up with main.bicep and the hooks; azd can restore the app as it is."""

from __future__ import annotations

import re

from infra_bicep import INFRA, ROOT, body, module

AZURE_YAML = ROOT / "azure.yaml"
HOOK_NAMES = ("preprovision", "postdeploy", "postdown")


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


def _hooks(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """hook -> platform -> {shell, run, ...}, from the `hooks:` block of azure.yaml."""
    block = text[text.index("\nhooks:\n") :]
    hooks: dict[str, dict[str, dict[str, str]]] = {}
    hook = platform = None
    for line in block.splitlines()[2:]:
        if m := re.fullmatch(r"  (\w+):", line):
            hook, platform = m.group(1), None
            hooks[hook] = {}
        elif m := re.fullmatch(r"    (\w+):", line):
            platform = m.group(1)
            hooks[hook][platform] = {}
        elif m := re.fullmatch(r"      (\w+): (.+)", line):
            assert platform, f"azure.yaml: hook {hook} has `{m.group(1)}` outside posix/windows"
            hooks[hook][platform][m.group(1)] = m.group(2)
        elif re.fullmatch(r"    (\w+): .*", line):
            raise AssertionError(f"azure.yaml: hook {hook} has a top-level setting: {line.strip()}")
    return hooks


def test_every_hook_has_a_posix_and_a_windows_twin() -> None:
    """A platform without its own entry falls back to the top-level one; there must be none to fall back to."""
    hooks = _hooks(AZURE_YAML.read_text())
    assert set(hooks) == set(HOOK_NAMES)
    for name, platforms in hooks.items():
        assert set(platforms) == {"posix", "windows"}, name
        posix, windows = platforms["posix"], platforms["windows"]
        assert posix["shell"] == "sh" and posix["run"] == f"infra/hooks/{name}.sh"
        assert windows["shell"] == "pwsh" and windows["run"] == f"infra/hooks/{name}.ps1"
        for entry in (posix, windows):
            assert (ROOT / entry["run"]).is_file(), entry["run"]
            assert entry["continueOnError"] == "false", name


def test_azd_restore_finds_no_pyproject() -> None:
    """azd (1.23.7+) runs `pip install .` when pyproject.toml exists; this app is not a package."""
    assert not (ROOT / "pyproject.toml").exists()
    assert (ROOT / "requirements.txt").is_file()
    # Tool settings moved to their own files and still apply.
    assert "line-length = 120" in (ROOT / "ruff.toml").read_text()
    assert re.search(r"^testpaths = tests$", (ROOT / "pytest.ini").read_text(), re.M)


def test_python_version_is_one_flex_runs_and_the_code_supports() -> None:
    from infra_bicep import main

    for tpl in (main(), module("function-app")):
        param = tpl.params["pythonVersion"]
        allowed = next(d["argument"] for d in param["decorators"] if d["type"] == "allowed")
        assert allowed == ["3.11", "3.12", "3.13"]
        assert tpl.param_default("pythonVersion") == "3.13"
    assert (INFRA / "main.parameters.json").read_text().count("${FUNCTION_APP_PYTHON_VERSION=3.13}") == 1


def test_docs_name_the_azd_version_and_hooks_the_template_needs() -> None:
    """remoteBuild for Flex (azure.yaml) needs azd 1.23.5; the docs must not promise less."""
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert "remoteBuild: true" in AZURE_YAML.read_text()
    assert "**1.23.5 or newer**" in docs
    assert not re.search(r"azd\]\([^)]*\) 1\.(1?\d|2[0-2])\b", docs), "an older minimum azd version is still named"
    for name in HOOK_NAMES:
        assert f"| `{name}` |" in docs, f"docs/deploy.md does not describe the {name} hook"
