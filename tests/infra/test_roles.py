"""Role assignments are least privilege: exactly the reviewed list, nothing broad, no write on catalog data."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from infra_bicep import INFRA, ROLES, Param, Template, bicep_files, body, load_json, main, module

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
STORAGE = "Microsoft.Storage/storageAccounts"
CONTAINER = f"{STORAGE}/blobServices/containers"

# Built-in roles that must never appear: control-plane owners/contributors and role admins.
FORBIDDEN_ROLE_IDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c6a72b9c": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
}
# Files that grant on the catalog account (the user's data).
CATALOG_FILES = {"catalog-access", "catalog-account"}
CATALOG_ROLES = {"storageBlobDataReader", "storageBlobDelegator"}


class Grant(NamedTuple):
    file: str
    role: str
    scope_type: str
    scope: str  # the symbolic name of the scope resource in that file
    principal: str


# The reviewed list. Changing a role on either side (Bicep or here) fails the test on purpose.
EXPECTED = {
    # The app identity on its own storage (Functions host storage, deployment package, ledger, reports).
    Grant("app-storage", "storageBlobDataOwner", STORAGE, "account", "appPrincipalId"),
    Grant("app-storage", "storageQueueDataContributor", STORAGE, "account", "appPrincipalId"),
    Grant("app-storage", "storageTableDataContributor", STORAGE, "account", "appPrincipalId"),
    # An optional operator: read the ledger, the reports and the dead letters, nothing else.
    Grant(
        "app-storage", "storageTableDataReader", f"{STORAGE}/tableServices/tables", "ledgerTable", "operatorPrincipalId"
    ),
    Grant("app-storage", "storageBlobDataReader", CONTAINER, "reportContainer", "operatorPrincipalId"),
    Grant("app-storage", "storageBlobDataReader", CONTAINER, "deadLetterContainer", "operatorPrincipalId"),
    # Identity-based Application Insights ingestion.
    Grant("monitoring", "monitoringMetricsPublisher", "Microsoft.Insights/components", "appInsights", "appPrincipalId"),
    # Catalog account: read the watched/readable containers, mint user-delegation keys. (The blob
    # trigger's poison queue is on the app storage, under the account-wide queue role above.)
    Grant("catalog-access", "storageBlobDataReader", CONTAINER, "containers", "appPrincipalId"),
    Grant("catalog-access", "storageBlobDelegator", STORAGE, "account", "appPrincipalId"),
    # Event Grid's own identity writes dead letters into one container of the app's storage.
    Grant("deadletter-access", "storageBlobDataContributor", CONTAINER, "deadLetterContainer", "topicPrincipalId"),
    # Completion events: the app identity may only send to its own custom topic.
    Grant("completion-topic", "eventGridDataSender", "Microsoft.EventGrid/topics", "topic", "appPrincipalId"),
    # GeoCatalog data plane (only when geoCatalogResourceId is given).
    Grant(
        "geocatalog-role", "geoCatalogAdministrator", "Microsoft.Orbital/geoCatalogs", "geoCatalog", "appPrincipalId"
    ),
}


@pytest.fixture(scope="module")
def roles() -> dict[str, str]:
    return {k: v for k, v in load_json(ROLES).items() if not k.startswith("$")}


def _scope_symbol(expr: Any) -> str:
    """`account` or `containers[i]` -> the symbolic resource name."""
    if isinstance(expr, str):
        return expr
    return expr["operator"]["operands"]["operand_1"]


def _grants(roles: dict[str, str]) -> list[tuple[Grant, Template, dict[str, Any]]]:
    by_id = {v: k for k, v in roles.items()}
    found = []
    for path in bicep_files():
        tpl = Template(path)
        for decl in tpl.resources_of_type(ROLE_ASSIGNMENT).values():
            cfg = body(decl)
            props = tpl.eval(cfg["properties"])
            role_id = tpl.eval(cfg["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
            assert role_id in by_id, f"{path.name}: role {role_id!r} is not one of infra/roles.json"
            symbol = _scope_symbol(cfg["scope"])
            assert isinstance(props["principalId"], Param), f"{path.name}: principal must be a parameter"
            grant = Grant(path.stem, by_id[role_id], tpl.resources[symbol]["type"], symbol, props["principalId"].name)
            found.append((grant, tpl, cfg))
    return found


def test_role_list_is_the_reviewed_list(roles: dict[str, str]) -> None:
    actual = {g for g, _, _ in _grants(roles)}
    assert actual - EXPECTED == set(), f"unreviewed grants: {sorted(actual - EXPECTED)}"
    assert EXPECTED - actual == set(), f"grants no longer made: {sorted(EXPECTED - actual)}"


def test_no_broad_roles_anywhere(roles: dict[str, str]) -> None:
    assert not FORBIDDEN_ROLE_IDS.keys() & set(roles.values())
    for path in INFRA.rglob("*"):
        if path.is_file() and path.suffix in {".bicep", ".json", ".sh", ".ps1"}:
            text = path.read_text().lower()
            for role_id, name in FORBIDDEN_ROLE_IDS.items():
                assert role_id not in text, f"{path.relative_to(INFRA)} mentions {name}"


def test_no_write_on_catalog_data(roles: dict[str, str]) -> None:
    for grant, _, _ in _grants(roles):
        if grant.file in CATALOG_FILES:
            assert grant.role in CATALOG_ROLES, f"{grant.role} on the catalog account"
        if grant.role in {"storageBlobDataContributor", "storageBlobDataOwner"}:
            assert grant.file not in CATALOG_FILES


def test_scoped_grants_target_the_intended_child() -> None:
    """The container-scoped grants land on the dead-letter container."""
    dead = module("deadletter-access")
    assert dead.eval(body(dead.resources["deadLetterContainer"])["name"]) == Param("deadLetterContainerName")
    tpl = main()
    dead_letter = tpl.eval(body(tpl.modules["deadLetterAccess"])["params"]["deadLetterContainerName"])
    assert dead_letter == tpl.eval(body(tpl.modules["appStorage"])["params"]["deadLetterContainerName"])


def test_service_principals_are_typed(roles: dict[str, str]) -> None:
    """principalType avoids the replication race for freshly created identities."""
    for grant, tpl, cfg in _grants(roles):
        ptype = tpl.eval(cfg["properties"]["principalType"])
        if grant.principal == "operatorPrincipalId":
            assert ptype == Param("operatorPrincipalType")
        else:
            assert ptype == "ServicePrincipal", grant


def test_catalog_account_is_keyless() -> None:
    for name in ("catalog-account", "app-storage"):
        tpl = module(name)
        (account,) = tpl.resources_of_type(STORAGE).values()
        props = tpl.eval(body(account)["properties"])
        assert props["allowSharedKeyAccess"] is False, name
        assert props["allowBlobPublicAccess"] is False, name
        assert props["minimumTlsVersion"] == "TLS1_2", name


def test_no_service_of_the_catalog_account_is_created_or_changed() -> None:
    """A user's account keeps its services as they are; premium block blob accounts have no queue service at all."""
    checked = 0
    for name in CATALOG_FILES:
        tpl = module(name)
        for symbol, decl in tpl.resources.items():
            assert "queueServices" not in decl["type"], f"{name}.bicep declares {symbol} ({decl['type']})"
            checked += 1
    access = module("catalog-access")
    # On an existing account only references (`existing`), role assignments and the system topic.
    for symbol, decl in access.resources.items():
        if decl["type"].startswith(STORAGE):
            assert decl["existing"], f"catalog-access.bicep changes {symbol} ({decl['type']})"
    assert checked >= 5
