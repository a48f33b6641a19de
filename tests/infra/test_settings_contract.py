"""The app settings infra/main.bicep sets are exactly the ones the host and ingest_core read."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_bicep import CONTRACT, INFRA, Opaque, Param, Template, load_json, main

from ingest_core import settings as code_settings

# Suffixes of the identity-based connection settings the Functions host reads (prefix__suffix).
HOST_STORAGE_SUFFIXES = {"credential", "clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri"}
# The blob trigger's connection also needs a queue URI (for its poison queue); it points at the
# app's own storage, see test_poison_queue_lives_on_the_app_storage.
TRIGGER_CONNECTION_SUFFIXES = {"credential", "clientId", "blobServiceUri", "queueServiceUri"}
# Flex Consumption rejects these; the runtime is set in functionAppConfig.
FORBIDDEN = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "AzureWebJobsStorage", "CatalogStorage"}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return load_json(CONTRACT)


@pytest.fixture(scope="module")
def tpl() -> Template:
    return main()


@pytest.fixture(scope="module")
def app_settings(tpl: Template) -> dict[str, Any]:
    """name -> evaluated value, as main.bicep hands them to the function app."""
    entries = tpl.eval(tpl.variables["appSettings"]["value"])
    names = [e["name"] for e in entries]
    assert all(isinstance(n, str) and "<" not in n for n in names), f"unresolved setting names: {names}"
    assert len(names) == len(set(names)), "a setting is listed twice"
    return {e["name"]: e["value"] for e in entries}


def test_contract_mirrors_env_names(contract: dict[str, Any]) -> None:
    assert contract["code"] == code_settings.ENV_NAMES, (
        "infra/contract.json `code` differs from ingest_core.settings.ENV_NAMES; "
        "run `.venv/bin/python infra/scripts/sync_contract.py` and wire the change in infra/main.bicep"
    )


def test_unset_settings_are_known_and_explained(contract: dict[str, Any]) -> None:
    for field, reason in contract["unset"].items():
        assert field in code_settings.ENV_NAMES, f"`unset` names {field}, which the code does not read"
        assert len(reason) > 20, f"`unset` entry {field} needs a reason"
        assert not code_settings.Settings.model_fields[field].is_required(), f"{field} is required; Bicep must set it"


def test_connection_prefixes_match_the_code(contract: dict[str, Any], blob_trigger: tuple[str, dict]) -> None:
    _, binding = blob_trigger
    assert contract["connections"]["catalogTrigger"] == code_settings.BLOB_TRIGGER_CONNECTION == binding["connection"]
    # load_settings falls back to this host connection for the ledger.
    assert contract["connections"]["hostStorage"] == "AzureWebJobsStorage"


def _expected_names(contract: dict[str, Any]) -> set[str]:
    code = {env for field, env in contract["code"].items() if field not in contract["unset"]}
    host_storage = {f"{contract['connections']['hostStorage']}__{s}" for s in HOST_STORAGE_SUFFIXES}
    trigger = {f"{contract['connections']['catalogTrigger']}__{s}" for s in TRIGGER_CONNECTION_SUFFIXES}
    return code | host_storage | trigger | set(contract["host"])


def test_bicep_sets_exactly_the_settings_that_are_read(contract: dict[str, Any], app_settings: dict) -> None:
    expected = _expected_names(contract)
    missing, unknown = expected - set(app_settings), set(app_settings) - expected
    assert not missing, f"main.bicep does not set {sorted(missing)}"
    assert not unknown, f"main.bicep sets {sorted(unknown)}, which neither the host nor ingest_core reads"


def test_no_forbidden_or_secret_settings(app_settings: dict[str, Any]) -> None:
    assert not FORBIDDEN & set(app_settings)
    for name, value in app_settings.items():
        assert "AccountKey" not in str(value) and "SharedAccessSignature" not in str(value), name


def test_every_required_setting_is_set(app_settings: dict[str, Any]) -> None:
    required = [f for f, info in code_settings.Settings.model_fields.items() if info.is_required()]
    assert required, "Settings has no required field? the test would be vacuous"
    for field in required:
        assert code_settings.ENV_NAMES[field] in app_settings, f"required setting {field} is not set by main.bicep"


def test_binding_expressions_resolve(app_settings: dict[str, Any], functions: dict[str, dict]) -> None:
    """Every %NAME% a trigger uses is an app setting (the host fails to index the function otherwise)."""
    used = {m for fj in functions.values() for b in fj["bindings"] for m in re.findall(r"%(\w+)%", json.dumps(b))}
    assert used, "no %NAME% binding expressions found; the check would be vacuous"
    for name in used | set(code_settings.TRIGGER_SETTING_NAMES):
        assert name in app_settings, f"%{name}% is used by a trigger but not set by main.bicep"


def _coerce(default: Any, like: Any) -> Any:
    """A Bicep default in the Python type of the Settings default (Bicep has no floats)."""
    if isinstance(like, bool) or like is None:
        return default
    if isinstance(like, int | float):
        return type(like)(default)
    if isinstance(like, list):
        return json.loads(default) if isinstance(default, str) else default
    return default


def test_bicep_defaults_equal_code_defaults(tpl: Template, app_settings: dict[str, Any]) -> None:
    """A parameter feeding a setting starts from the code's own default: one default, not two."""
    fields = code_settings.Settings.model_fields
    by_env = {env: field for field, env in code_settings.ENV_NAMES.items()}
    checked = 0
    for name, value in app_settings.items():
        if name not in by_env or not isinstance(value, Param) or fields[by_env[name]].is_required():
            continue
        code_default = fields[by_env[name]].get_default(call_default_factory=True)
        code_default = getattr(code_default, "value", code_default)  # enums
        bicep_default = _coerce(tpl.param_default(value.name), code_default)
        assert bicep_default == code_default, (
            f"{name}: Bicep default {bicep_default!r} != code default {code_default!r}"
        )
        checked += 1
    assert checked >= 10


def test_connections_point_at_the_right_services(tpl: Template, app_settings: dict[str, Any]) -> None:
    code = code_settings.ENV_NAMES
    catalog = app_settings[code["catalog_connection"]]
    ledger = app_settings[code["ledger_connection"]]
    trigger = code_settings.BLOB_TRIGGER_CONNECTION
    # The code reads blobs from the catalog account and keeps its ledger in the app account's tables.
    assert catalog == app_settings[f"{trigger}__blobServiceUri"]
    assert catalog.startswith("https://") and ".blob." in catalog
    assert ledger == app_settings["AzureWebJobsStorage__tableServiceUri"] and ".table." in ledger
    # Reports go to the app's own blob storage (the app may not write to the catalog account).
    assert app_settings[code["report_connection"]] == app_settings["AzureWebJobsStorage__blobServiceUri"]
    # Everything authenticates as the one user-assigned identity.
    client_ids = {app_settings[n] for n in ("AZURE_CLIENT_ID", f"{trigger}__clientId", "AzureWebJobsStorage__clientId")}
    assert client_ids == {Opaque("identity.properties.clientId")}
    assert app_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")


def test_azd_parameter_file_matches_main(tpl: Template) -> None:
    """main.parameters.json maps only real params, covers the required ones and repeats no other default."""
    mapped = load_json(INFRA / "main.parameters.json")["parameters"]
    required = {name for name, p in tpl.params.items() if p.get("default") is None}
    assert set(mapped) <= set(tpl.params), f"unknown params: {set(mapped) - set(tpl.params)}"
    assert required <= set(mapped), f"required params not mapped for azd: {required - set(mapped)}"
    for name, entry in mapped.items():
        m = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", str(entry["value"]))
        if not m or m.group(2) is None or name in required:
            continue
        bicep_default = tpl.param_default(name)
        expected = str(bicep_default).lower() if isinstance(bicep_default, bool) else str(bicep_default)
        assert m.group(2) == expected, f"{name}: main.parameters.json default {m.group(2)!r} != main.bicep {expected!r}"


def test_poison_queue_lives_on_the_app_storage(app_settings: dict[str, Any]) -> None:
    """The blob extension keeps its poison queue at the trigger connection's queue URI: the app's account,
    never the user's catalog account (which may have no queue service)."""
    trigger = code_settings.BLOB_TRIGGER_CONNECTION
    queue = app_settings[f"{trigger}__queueServiceUri"]
    assert queue == app_settings["AzureWebJobsStorage__queueServiceUri"]
    assert (
        ".queue." in queue and queue.split(".")[0] == app_settings["AzureWebJobsStorage__blobServiceUri"].split(".")[0]
    )


def test_routing_rules_are_an_array_parameter_that_reaches_the_setting_as_json(tpl: Template) -> None:
    """azd parses array parameters as JSON (a string parameter gets `"` pasted in raw); string() renders JSON."""
    param = tpl.params["routingRules"]
    assert param["type"] == "array" and param["default"] == []
    mapped = load_json(INFRA / "main.parameters.json")["parameters"]["routingRules"]["value"]
    assert mapped == "${ROUTING_RULES=[]}"
    name = code_settings.ENV_NAMES["routing_rules"]
    (entry,) = [e for e in tpl.variables["appSettings"]["value"] if tpl.eval(e["name"]) == name]
    assert entry["value"] == {"function": {"type": "string", "parameters": {"value_to_convert": "routingRules"}}}
    # What azd (1.23.4+) does with ROUTING_RULES for an array param, then ARM's string() (compact JSON),
    # then the code reading the app setting.
    value = '[{"container": "catalogs", "prefix": "naip/", "collection": "naip-2024"}]'
    substituted = re.sub(r"\$\{ROUTING_RULES=\[\]\}", lambda _: value, mapped)
    setting = json.dumps(json.loads(substituted), separators=(",", ":"))
    env = {
        code_settings.ENV_NAMES["geocatalog_endpoint"]: "https://gc.example",
        code_settings.ENV_NAMES["catalog_connection"]: "https://a.blob.core.windows.net",
        code_settings.ENV_NAMES["ledger_connection"]: "https://a.table.core.windows.net",
        code_settings.ENV_NAMES["report_connection"]: "https://a.blob.core.windows.net",
        code_settings.ENV_NAMES["routing_rules"]: setting,
    }
    settings = code_settings.load_settings(env)
    assert [(r.container, r.prefix, r.collection) for r in settings.routing_rules] == [
        ("catalogs", "naip/", "naip-2024")
    ]
