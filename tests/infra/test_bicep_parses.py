"""Every Bicep file parses offline and is self-contained (checkov exits 0 on files it cannot parse)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from infra_bicep import INFRA, Template, bicep_files, body, parse

FILES = bicep_files()
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def _id(path: Path) -> str:
    return str(path.relative_to(INFRA))


def test_infra_has_the_expected_files() -> None:
    names = {_id(p) for p in FILES}
    assert "main.bicep" in names
    assert "modules/event-subscriptions.bicep" in names


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_parses(path: Path) -> None:
    doc = parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{_id(path)} declares nothing"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_modules_are_local_files(path: Path) -> None:
    """No registry (br:/ts:) modules: they need network access even for `bicep build`."""
    tpl = Template(path)
    for name, decl in tpl.modules.items():
        assert decl["type"] == "local", f"{_id(path)}: module {name} is not a local file"
        assert tpl.module_file(name).is_file(), f"{_id(path)}: module {name} points at a missing file"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_resources_pin_an_api_version(path: Path) -> None:
    for name, decl in Template(path).resources.items():
        assert API_VERSION.match(decl["api_version"] or ""), f"{_id(path)}: {name} has no dated api version"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_loaded_json_files_exist(path: Path) -> None:
    text = path.read_text()
    for ref in re.findall(r"loadJsonContent\('([^']+)'\)", text):
        target = path.parent / ref
        assert target.is_file(), f"{_id(path)}: loadJsonContent('{ref}') is missing"
        json.loads(target.read_text())


def test_module_params_match_the_module_declarations() -> None:
    """Every module call passes only declared params and every param without a default."""
    for path in FILES:
        tpl = Template(path)
        for name, decl in tpl.modules.items():
            passed = set(body(decl).get("params", {}))
            declared = Template(tpl.module_file(name)).params
            required = {p for p, d in declared.items() if d.get("default") is None}
            assert passed <= set(declared), f"{_id(path)}: {name} passes unknown params {passed - set(declared)}"
            assert required <= passed, f"{_id(path)}: {name} misses required params {required - passed}"
