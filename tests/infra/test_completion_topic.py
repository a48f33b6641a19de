"""The completion topic: keyless custom topic taking CloudEvents, the app may only send, and the app learns its endpoint."""

from __future__ import annotations

from infra_bicep import Opaque, Param, body, main, module

from ingest_core import settings as code_settings

TOPIC = "Microsoft.EventGrid/topics"


def test_topic_takes_cloudevents_and_has_no_keys():
    tpl = module("completion-topic")
    (topic,) = tpl.resources_of_type(TOPIC).values()
    props = tpl.eval(body(topic)["properties"])
    assert props["inputSchema"] == "CloudEventSchemaV1_0"  # the app publishes CloudEvents 1.0
    assert props["disableLocalAuth"] is True  # no access keys: Entra ID (EventGrid Data Sender) only
    assert props["minimumTlsVersionAllowed"] == "1.2"


def test_only_the_app_identity_sends_and_only_to_this_topic():
    tpl = module("completion-topic")
    (grant,) = tpl.resources_of_type("Microsoft.Authorization/roleAssignments").values()
    cfg = body(grant)
    assert cfg["scope"] == "topic"
    assert tpl.eval(cfg["properties"]["principalId"]) == Param("appPrincipalId")
    main_tpl = main()
    params = main_tpl.eval(body(main_tpl.modules["completionTopic"])["params"])
    assert params["appPrincipalId"] == Opaque("identity.properties.principalId")


def test_app_settings_point_at_the_topic_and_keep_the_code_default_prefix():
    tpl = main()
    settings = {e["name"]: e["value"] for e in tpl.eval(tpl.variables["appSettings"]["value"])}
    names = code_settings.ENV_NAMES
    assert settings[names["completion_topic_endpoint"]] == Opaque("completionTopic.outputs.endpoint")
    assert settings[names["completion_event_prefix"]] == Param("completionEventTypePrefix")
    assert names["completion_topic_key"] not in settings  # local stand-in only
    code_default = code_settings.Settings.model_fields["completion_event_prefix"].default
    assert tpl.param_default("completionEventTypePrefix") == code_default == "CatalogIngest"
