"""settings: defaults, validation messages that name the setting, identity-based fallbacks."""

import pytest

from ingest_core.errors import ConfigError
from ingest_core.settings import ENV_NAMES, Settings, SourceKind, load_settings

BASE = {
    "GEOCATALOG_ENDPOINT": "https://gc.example.geocatalog.spatio.azure.com/",
    "CATALOG_STORAGE_CONNECTION": "https://acct.blob.core.windows.net",
    "LEDGER_STORAGE_CONNECTION": "https://app.table.core.windows.net",
    "REPORT_STORAGE_CONNECTION": "https://app.blob.core.windows.net",
}


def test_defaults_are_safe():
    s = load_settings(BASE)
    assert s.geocatalog_endpoint == "https://gc.example.geocatalog.spatio.azure.com"
    assert s.geocatalog_api_version == "2026-04-15"
    assert s.source_kind is SourceKind.SAS_TOKEN
    assert s.geocatalog_static_token is None
    assert [r.container for r in s.rules_or_default()] == ["catalogs"]
    # The service's per-ingestion limit; the walk's bound is well above it (big catalogs run as parts).
    assert (s.max_items_per_ingestion, s.preflight_max_links, s.staging_container) == (
        10_000,
        200_000,
        "ingest-staging",
    )


def test_missing_required_setting_is_named():
    with pytest.raises(ConfigError, match="GEOCATALOG_ENDPOINT"):
        load_settings({k: v for k, v in BASE.items() if k != "GEOCATALOG_ENDPOINT"})


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ROUTING_RULES", "[{", "ROUTING_RULES is not valid JSON"),
        ("ROUTING_RULES", '[{"container": "c"}]', "ROUTING_RULES[0.container]"),
        ("ROUTING_RULES", '[{"container": "cat", "bogus": 1}]', "ROUTING_RULES[0.bogus]"),
        ("MAX_CONCURRENT_RUNS", "0", "MAX_CONCURRENT_RUNS"),
        ("SAS_LIFETIME_HOURS", "abc", "SAS_LIFETIME_HOURS"),
        ("SAS_REFRESH_MARGIN_HOURS", "48", "SAS_REFRESH_MARGIN_HOURS"),
        ("SOURCE_KIND", "Key", "SOURCE_KIND"),
        ("GEOCATALOG_ENDPOINT", "gc.example", "GEOCATALOG_ENDPOINT"),
        ("MAX_ITEMS_PER_INGESTION", "0", "MAX_ITEMS_PER_INGESTION"),
        ("STAGING_CONTAINER", "Bad_Name", "STAGING_CONTAINER"),
        ("STAGING_CONTAINER", "ingest-reports", "STAGING_CONTAINER must differ from REPORT_CONTAINER"),
    ],
)
def test_malformed_setting_is_named(name, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, name: value})
    assert fragment in str(info.value)


def test_identity_based_connections_fall_back_to_host_settings():
    env = {
        "GEOCATALOG_ENDPOINT": BASE["GEOCATALOG_ENDPOINT"],
        "CatalogStorage__accountName": "catacct",
        "AzureWebJobsStorage__tableServiceUri": "https://appacct.table.core.windows.net",
        "AzureWebJobsStorage__blobServiceUri": "https://appacct.blob.core.windows.net",
    }
    s = load_settings(env)
    assert s.report_connection == "https://appacct.blob.core.windows.net"
    assert s.catalog_connection == "https://catacct.blob.core.windows.net"
    assert s.ledger_connection == "https://appacct.table.core.windows.net"


def test_every_settings_field_has_an_env_name():
    assert set(ENV_NAMES) == set(Settings.model_fields)


def test_local_connection_string_serves_ledger_and_reports():
    s = load_settings({"GEOCATALOG_ENDPOINT": "http://127.0.0.1:1", "CATALOG_STORAGE_CONNECTION": "UseDevelopmentStorage=true",
                       "LEDGER_STORAGE_CONNECTION": "UseDevelopmentStorage=true"})  # fmt: skip
    assert s.report_connection == "UseDevelopmentStorage=true"


def test_managed_identity_sources_need_the_object_id():
    with pytest.raises(ConfigError, match="SOURCE_MANAGED_IDENTITY_OBJECT_ID"):
        load_settings({**BASE, "SOURCE_KIND": "BlobManagedIdentity"})
    s = load_settings({**BASE, "SOURCE_KIND": "BlobManagedIdentity", "SOURCE_MANAGED_IDENTITY_OBJECT_ID": "oid"})
    assert s.source_kind is SourceKind.MANAGED_IDENTITY
