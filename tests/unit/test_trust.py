"""trust: only the accounts the settings name are trusted, and an event must agree with itself."""

import logging

import pytest

from ingest_core.errors import ConfigError
from ingest_core.events import blob_created_event, drop_from_blob_trigger, drops_from_event
from ingest_core.settings import load_settings
from ingest_core.trust import refused, trusted_endpoints, untrusted_reason

AZURITE = "https://127.0.0.1:10000/devstoreaccount1"
CONN = f"DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint={AZURITE};"
BASE = {"GEOCATALOG_ENDPOINT": "https://gc.example", "LEDGER_STORAGE_CONNECTION": "https://app.table.core.windows.net",
        "REPORT_STORAGE_CONNECTION": "https://app.blob.core.windows.net"}  # fmt: skip


def settings(connection=CONN, rules=None):
    env = {**BASE, "CATALOG_STORAGE_CONNECTION": connection}
    if rules is not None:
        env["ROUTING_RULES"] = rules
    return load_settings(env)


def event_drop(url, subject=None, topic=None):
    drop = drop_from_blob_trigger(url, "0x1")
    ev = blob_created_event(drop)
    if subject is not None:
        ev["subject"] = subject
    if topic is not None:
        ev["topic"] = topic
    (parsed,) = drops_from_event(ev)
    return parsed


@pytest.mark.parametrize(
    "url",
    [
        f"{AZURITE}/catalogs/a/catalog.json",
        "https://127.0.0.1:10000/devstoreaccount1/catalogs/my%20set/catalog.json",
        "HTTPS://127.0.0.1:10000/devstoreaccount1/catalogs/a/catalog.json",
    ],
)
def test_the_catalog_accounts_own_endpoint_is_trusted(url):
    assert untrusted_reason(settings(), event_drop(url)) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:10001/devstoreaccount1/catalogs/a/catalog.json",  # another port: another server
        "http://127.0.0.1:10000/devstoreaccount1/catalogs/a/catalog.json",  # another scheme
        "https://127.0.0.2:10000/devstoreaccount1/catalogs/a/catalog.json",
        "https://localhost:10000/devstoreaccount1/catalogs/a/catalog.json",  # not exactly the configured host
        "https://127.0.0.1:10000/devstoreaccount2/catalogs/a/catalog.json",  # another account on the same Azurite
        "https://127.0.0.1:10000/devstoreaccount1x/catalogs/a/catalog.json",
        "https://user@127.0.0.1:10000/devstoreaccount1/catalogs/a/catalog.json",
        "https://evil.example/devstoreaccount1/catalogs/a/catalog.json",
    ],
)
def test_any_other_host_port_scheme_or_account_is_untrusted(url):
    reason = untrusted_reason(settings(), event_drop(url))
    assert reason is not None and "not on the blob endpoint of a trusted account" in reason
    assert AZURITE in reason  # says what is trusted


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://acct.blob.core.windows.net/catalogs/a/catalog.json", True),
        ("https://ACCT.blob.core.windows.net:443/catalogs/a/catalog.json", True),
        ("https://acct.blob.core.windows.net.evil.example/catalogs/a/catalog.json", False),
        ("https://xacct.blob.core.windows.net/catalogs/a/catalog.json", False),
        ("https://other.blob.core.windows.net/catalogs/a/catalog.json", False),
        ("https://acct.blob.core.windows.net:8443/catalogs/a/catalog.json", False),
    ],
)
def test_identity_based_catalog_account(url, trusted):
    s = settings("https://acct.blob.core.windows.net")
    assert (untrusted_reason(s, event_drop(url)) is None) is trusted


def test_accounts_named_by_rules_are_trusted_with_their_endpoint():
    rules = ('[{"container": "catalogs"}, {"account": "other", "container": "drops"},'
             ' {"account": "dev2", "container": "ccc", "blobEndpoint": "https://127.0.0.1:10000/dev2/"}]')  # fmt: skip
    s = settings("https://acct.blob.core.usgovcloudapi.net", rules)
    assert [str(e) for e in trusted_endpoints(s)] == [
        "https://acct.blob.core.usgovcloudapi.net", "https://127.0.0.1:10000/dev2",
        "https://other.blob.core.usgovcloudapi.net"]  # fmt: skip
    assert untrusted_reason(s, event_drop("https://other.blob.core.usgovcloudapi.net/drops/catalog.json")) is None
    assert untrusted_reason(s, event_drop("https://127.0.0.1:10000/dev2/ccc/catalog.json")) is None
    assert untrusted_reason(s, event_drop("https://other.blob.core.windows.net/drops/catalog.json")) is not None


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ('[{"container": "catalogs", "blobEndpoint": "https://x.blob.core.windows.net"}]', "needs the rule's account"),
        ('[{"account": "x", "container": "catalogs", "blobEndpoint": "ftp://x"}]', "must be a blob service URL"),
        (
            '[{"account": "x", "container": "catalogs", "blobEndpoint": "https://x.blob.core.windows.net/?sv=1"}]',
            "must be a blob service URL",
        ),
        ('[{"account": "x", "container": "catalogs", "blobEndpoint": "https://h/x/catalogs"}]', "without a container"),
    ],
)
def test_bad_rule_endpoints_are_config_errors_naming_the_setting(rules, fragment):
    with pytest.raises(ConfigError, match="ROUTING_RULES") as info:
        settings(rules=rules)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("subject", "topic", "fragment"),
    [
        ("/blobServices/default/containers/other/blobs/a/catalog.json", None, "subject"),
        ("/blobServices/default/containers/catalogs/blobs/b/catalog.json", None, "subject"),
        ("/blobServices/default/containers/catalogs/blobs/a/catalog.json/", None, "subject"),
        ("catalogs/a/catalog.json", None, "subject"),
        (None, "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/other", "topic"),
        (None, "/subscriptions/s/resourceGroups/r/providers/Microsoft.EventGrid/topics/devstoreaccount1", "topic"),
        (None, "devstoreaccount1", "topic"),
    ],
)
def test_an_event_that_contradicts_itself_is_untrusted(subject, topic, fragment):
    drop = event_drop(f"{AZURITE}/catalogs/a/catalog.json", subject, topic)
    reason = untrusted_reason(settings(), drop)
    assert reason is not None and reason.startswith(fragment)


def test_topic_is_compared_without_case_and_may_be_absent():
    topic = "/subscriptions/s/resourceGroups/r/providers/microsoft.storage/storageaccounts/DevStoreAccount1"
    assert untrusted_reason(settings(), event_drop(f"{AZURITE}/catalogs/a/catalog.json", topic=topic)) is None
    assert untrusted_reason(settings(), drop_from_blob_trigger(f"{AZURITE}/catalogs/a/catalog.json", "e")) is None


@pytest.mark.parametrize("path", ["catalogs/../secret/catalog.json", "catalogs/a/./catalog.json", "../x/catalog.json"])
def test_dot_segments_in_the_blob_url_are_untrusted(path):
    drop = drop_from_blob_trigger(f"{AZURITE}/{path}", "e")
    assert "'..' path segments" in (untrusted_reason(settings(), drop) or "")


def test_refused_logs_one_warning_line_without_secrets(caplog):
    drop = event_drop("https://evil.example/devstoreaccount1/catalogs/a/catalog.json?sig=SECRET")
    with caplog.at_level(logging.INFO):
        assert refused(settings(), drop) is True
        assert refused(settings(), event_drop(f"{AZURITE}/catalogs/a/catalog.json")) is False
    (record,) = caplog.records
    assert record.levelname == "WARNING" and record.name == "ingest_core.trust"
    assert "evil.example" in record.getMessage() and "SECRET" not in record.getMessage()
