"""The Event Grid subscriptions deliver exactly the events the code acts on, to the right functions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from infra_bicep import CONTRACT, Param, Template, body, load_json, main, module

from ingest_core import events
from ingest_core import settings as code_settings

SUBSCRIPTION_TYPE = "Microsoft.EventGrid/systemTopics/eventSubscriptions"


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return load_json(CONTRACT)


@pytest.fixture(scope="module")
def subs() -> Template:
    return module("event-subscriptions")


def _properties(tpl: Template, name: str) -> dict[str, Any]:
    return tpl.eval(body(tpl.resources[name])["properties"])


def test_contract_names_the_real_functions(
    contract: dict[str, Any], blob_trigger: tuple[str, dict], event_grid_trigger: tuple[str, dict]
) -> None:
    blob_name, blob_binding = blob_trigger
    assert contract["functions"]["blobTrigger"] == blob_name
    assert contract["functions"]["eventGridTrigger"] == event_grid_trigger[0]
    # Flex Consumption has no polling blob trigger: without source=EventGrid nothing would fire.
    assert blob_binding.get("source") == "EventGrid"
    assert blob_binding["path"].startswith(f"%{code_settings.ENV_NAMES['catalog_container']}%/")


def test_contract_filter_is_the_codes_filter(contract: dict[str, Any]) -> None:
    assert contract["eventFilter"]["eventType"] == events.BLOB_CREATED
    assert contract["eventFilter"]["dataApis"] == list(events.NEW_UPLOAD_APIS)


def test_only_the_expected_subscriptions(subs: Template) -> None:
    assert set(subs.resources_of_type(SUBSCRIPTION_TYPE)) == {"blobTriggerSubscription", "eventTriggerSubscriptions"}


def test_blob_trigger_webhook(subs: Template, blob_trigger: tuple[str, dict]) -> None:
    dest = _properties(subs, "blobTriggerSubscription")["destination"]
    # 'AzureFunction' accepts only Event Grid triggers; the blob extension listens on its webhook.
    assert dest["endpointType"] == "WebHook"
    assert dest["properties"]["endpointUrl"] == (
        "https://<functionAppHostName>/runtime/webhooks/blobs"
        f"?functionName=Host.Functions.{blob_trigger[0]}"
        "&code=<listKeys(<functionAppId>/host/default, 2024-04-01).systemKeys.blobs_extension>"
    )
    assert dest["properties"]["maxEventsPerBatch"] == 1


def test_event_grid_trigger_destination(subs: Template, event_grid_trigger: tuple[str, dict]) -> None:
    loop = subs.resources["eventTriggerSubscriptions"]["config"]["loop_type"]["detail"]
    assert loop == {"item_name": "c", "array_name": "additionalWatchedContainers"}
    dest = _properties(subs, "eventTriggerSubscriptions")["destination"]
    assert dest["endpointType"] == "AzureFunction"
    assert dest["properties"]["resourceId"] == f"<functionAppId>/functions/{event_grid_trigger[0]}"
    assert dest["properties"]["maxEventsPerBatch"] == 1


@pytest.mark.parametrize(
    ("name", "container"),
    # The loop variable `c` runs over additionalWatchedContainers (checked below).
    [("blobTriggerSubscription", "<catalogContainer>"), ("eventTriggerSubscriptions", "c")],
)
def test_filters(subs: Template, name: str, container: str) -> None:
    props = _properties(subs, name)
    flt = props["filter"]
    assert props["eventDeliverySchema"] == "EventGridSchema"
    assert flt["includedEventTypes"] == [events.BLOB_CREATED]
    assert flt["advancedFilters"] == [
        {"operatorType": "StringIn", "key": "data.api", "values": list(events.NEW_UPLOAD_APIS)}
    ]
    assert flt["subjectBeginsWith"] == f"/blobServices/default/containers/{container}/"
    assert flt["subjectEndsWith"] == Param("catalogSuffix")
    assert flt["isSubjectCaseSensitive"] is True


@pytest.mark.parametrize("name", ["blobTriggerSubscription", "eventTriggerSubscriptions"])
def test_retry_and_dead_letter(subs: Template, name: str) -> None:
    props = _properties(subs, name)
    assert props["retryPolicy"] == {
        "maxDeliveryAttempts": Param("maxDeliveryAttempts"),
        "eventTimeToLiveInMinutes": Param("eventTimeToLiveInMinutes"),
    }
    assert subs.param_default("maxDeliveryAttempts") == 30
    assert subs.param_default("eventTimeToLiveInMinutes") == 1440
    dead = props["deadLetterWithResourceIdentity"]
    assert dead["identity"] == {"type": "SystemAssigned"}
    assert dead["deadLetterDestination"] == {
        "endpointType": "StorageBlob",
        "properties": {
            "resourceId": Param("deadLetterAccountId"),
            "blobContainerName": Param("deadLetterContainerName"),
        },
    }


def test_main_wires_the_same_values_into_settings_and_filters() -> None:
    """CATALOG_CONTAINER/CATALOG_SUFFIX and the subscription filter come from the same main.bicep params."""
    tpl = main()
    settings = {e["name"]: e["value"] for e in tpl.eval(tpl.variables["appSettings"]["value"])}
    wiring = tpl.eval(tpl.variables["eventSubscriptionParameters"]["value"])
    assert (
        wiring["catalogContainer"]
        == settings[code_settings.ENV_NAMES["catalog_container"]]
        == Param("catalogContainer")
    )
    assert wiring["catalogSuffix"] == settings[code_settings.ENV_NAMES["catalog_suffix"]] == Param("catalogSuffix")
    defaults = code_settings.Settings.model_fields
    assert tpl.param_default("catalogSuffix") == defaults["catalog_suffix"].default
    assert tpl.param_default("catalogContainer") == defaults["catalog_container"].default
    # The dead-letter container is the one app-storage.bicep creates and deadletter-access.bicep opens.
    assert wiring["deadLetterContainerName"] == "eventgrid-deadletter"


def test_hook_parameters_are_the_module_parameters() -> None:
    """The postdeploy hook deploys the module with output EVENT_SUBSCRIPTION_PARAMETERS: same keys, same values."""
    tpl = main()
    wiring = tpl.variables["eventSubscriptionParameters"]["value"]
    passed = body(tpl.modules["eventSubscriptions"])["params"]
    assert set(wiring) == set(passed) == set(module("event-subscriptions").params)
    for key, expr in passed.items():
        assert tpl.eval(expr) == tpl.eval(wiring[key]), key
    assert tpl.doc["outputs"]["EVENT_SUBSCRIPTION_PARAMETERS"]["value"] == "eventSubscriptionParameters"


def test_phase_two_is_opt_in() -> None:
    """The subscription needs the deployed code's key: main.bicep must not create it on a first run."""
    tpl = main()
    assert tpl.modules["eventSubscriptions"]["config"]["condition"] == "deployEventSubscription"
    assert tpl.param_default("deployEventSubscription") is False


def _names(app_id: str) -> dict[str, str]:
    """The subscription names event-subscriptions.bicep gives for one app (extra containers: `c` = 'more')."""
    tpl = Template(module("event-subscriptions").path, bindings={"functionAppId": app_id})
    names = {
        k: tpl.eval(body(tpl.resources[k])["name"]) for k in ("blobTriggerSubscription", "eventTriggerSubscriptions")
    }
    assert all(isinstance(n, str) for n in names.values()), f"names did not evaluate: {names}"
    return names


def test_subscription_names_are_unique_per_app_and_stable() -> None:
    """Two environments on one catalog account must not overwrite each other's webhook subscription."""
    site = "/subscriptions/s/resourceGroups/rg-{0}/providers/Microsoft.Web/sites/func-{0}"
    first, second = _names(site.format("a")), _names(site.format("b"))
    for kind in first:
        assert first[kind] != second[kind], kind
    assert _names(site.format("a")) == first, "a second run must keep the same names (or it adds subscriptions)"
    for name in (*first.values(), *second.values()):
        # Event Grid: 3-64 characters, letters, digits and hyphens.
        assert re.fullmatch(r"[A-Za-z0-9-]{3,64}", name), name


def test_geocatalog_is_referenced_on_the_ga_api_version() -> None:
    (decl,) = module("geocatalog-role").resources_of_type("Microsoft.Orbital/geoCatalogs").values()
    assert decl["api_version"] == "2026-04-15"
