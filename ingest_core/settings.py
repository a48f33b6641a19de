"""The one Settings object, read from the environment (Function App settings) and validated at start."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest_core.connections import is_connection_string
from ingest_core.errors import ConfigError
from ingest_core.routing import RoutingRule

# The single source of truth for app-setting names. infra/ maps its parameters onto
# exactly these names and tests/infra checks both sides against this table.
ENV_NAMES: dict[str, str] = {
    "geocatalog_endpoint": "GEOCATALOG_ENDPOINT",
    "geocatalog_api_version": "GEOCATALOG_API_VERSION",
    "geocatalog_scope": "GEOCATALOG_SCOPE",
    "geocatalog_static_token": "GEOCATALOG_STATIC_TOKEN",
    "catalog_connection": "CATALOG_STORAGE_CONNECTION",
    "catalog_container": "CATALOG_CONTAINER",
    "catalog_suffix": "CATALOG_SUFFIX",
    "asset_containers": "ASSET_CONTAINERS",
    "ledger_connection": "LEDGER_STORAGE_CONNECTION",
    "ledger_table": "LEDGER_TABLE",
    "report_connection": "REPORT_STORAGE_CONNECTION",
    "report_container": "REPORT_CONTAINER",
    "routing_rules": "ROUTING_RULES",
    "source_kind": "SOURCE_KIND",
    "source_object_id": "SOURCE_MANAGED_IDENTITY_OBJECT_ID",
    "sas_lifetime_hours": "SAS_LIFETIME_HOURS",
    "sas_refresh_margin_hours": "SAS_REFRESH_MARGIN_HOURS",
    "stale_source_ttl_hours": "STALE_SOURCE_TTL_HOURS",
    "source_trust_seconds": "SOURCE_TRUST_SECONDS",
    "max_concurrent_runs": "MAX_CONCURRENT_RUNS",
    "max_reruns": "MAX_RERUNS",
    "catalog_max_bytes": "CATALOG_MAX_BYTES",
    "preflight_max_links": "PREFLIGHT_MAX_LINKS",
    "max_items_per_ingestion": "MAX_ITEMS_PER_INGESTION",
    "staging_container": "STAGING_CONTAINER",
    "claim_lease_seconds": "CLAIM_LEASE_SECONDS",
    "defer_timeout_minutes": "DEFER_TIMEOUT_MINUTES",
    "settle_seconds": "SETTLE_SECONDS",
    "transient_give_up_minutes": "TRANSIENT_GIVE_UP_MINUTES",
    "reconcile_budget_seconds": "RECONCILE_BUDGET_SECONDS",
    "reconcile_workers": "RECONCILE_WORKERS",
    "http_max_retries": "HTTP_MAX_RETRIES",
    "http_backoff_cap_seconds": "HTTP_BACKOFF_CAP_SECONDS",
    "reconcile_schedule": "RECONCILE_SCHEDULE",
    "sweep_schedule": "SWEEP_SCHEDULE",
    # issue 11: the completion event's topic
    "completion_topic_endpoint": "COMPLETION_TOPIC_ENDPOINT",
    "completion_topic_key": "COMPLETION_TOPIC_KEY",
    "completion_event_prefix": "COMPLETION_EVENT_TYPE_PREFIX",
}

# Names the Functions host itself resolves in binding expressions (%NAME%); the
# values must exist as app settings, so Settings validates them too.
TRIGGER_SETTING_NAMES = ("CATALOG_CONTAINER", "RECONCILE_SCHEDULE", "SWEEP_SCHEDULE")
# The blob trigger's `connection` property: the host reads CatalogStorage or CatalogStorage__*.
BLOB_TRIGGER_CONNECTION = "CatalogStorage"
# Where the blob extension puts a delivery it gave up on (in the trigger connection's queue service).
POISON_QUEUE = "webjobs-blobtrigger-poison"


class SourceKind(str, Enum):
    """How the GeoCatalog reads the catalog's container."""

    SAS_TOKEN = "SasToken"
    MANAGED_IDENTITY = "BlobManagedIdentity"


PositiveHours = Annotated[float, Field(gt=0)]
ContainerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]


class Settings(BaseModel):
    """Every knob of the app, each with a safe default unless it cannot have one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    geocatalog_endpoint: str
    geocatalog_api_version: str = "2026-04-15"
    geocatalog_scope: str = "https://geocatalog.spatio.azure.com/.default"
    # Only for the local emulator: no Entra identity exists offline.
    geocatalog_static_token: str | None = None
    # Connection string (local) or account blob URL (Azure, identity-based).
    catalog_connection: str = Field(min_length=1)
    catalog_container: str = "catalogs"
    catalog_suffix: str = "catalog.json"
    # Other containers of the catalog account that items' assets may be in (each gets an ingestion source). Any
    # other container stays out of reach of whoever can write a catalog: its assets are predicted failures.
    asset_containers: list[ContainerName] = Field(default_factory=list)
    ledger_connection: str = Field(min_length=1)
    ledger_table: str = Field(default="ingestjobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    # Where each finished job's report goes (the app's own storage: the catalog account is read-only to us).
    report_connection: str = Field(min_length=1)
    report_container: str = Field(default="ingest-reports", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    routing_rules: list[RoutingRule] = Field(default_factory=list)
    source_kind: SourceKind = SourceKind.SAS_TOKEN
    source_object_id: str | None = None
    sas_lifetime_hours: PositiveHours = 24.0
    sas_refresh_margin_hours: PositiveHours = 6.0
    stale_source_ttl_hours: PositiveHours = 72.0
    # A source this process created or confirmed is used without another GET for this long.
    source_trust_seconds: float = Field(default=300.0, ge=0)
    max_concurrent_runs: int = Field(default=5, ge=1, le=100)
    # Failed-items-only re-runs a job may get when its run's error codes are transient (0: none).
    max_reruns: int = Field(default=2, ge=0, le=10)
    catalog_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # A safety bound, well above the 10,000 items one ingestion takes: larger catalogs are split, not refused.
    preflight_max_links: int = Field(default=200_000, ge=1)
    # The service takes at most 10,000 items per ingestion: a bigger catalog runs as parts (ingest_core.parts).
    max_items_per_ingestion: int = Field(default=10_000, ge=1)
    # Where the parts' generated catalogs go: a container of the app's own storage (REPORT_STORAGE_CONNECTION).
    staging_container: str = Field(default="ingest-staging", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    claim_lease_seconds: float = Field(default=600.0, gt=0)
    # How long a catalog may wait for its linked items to be uploaded before it is INVALID.
    defer_timeout_minutes: float = Field(default=60.0, gt=0)
    # A catalog starts only once nothing under its top folder changed for this long (a tree uploads in any order).
    settle_seconds: float = Field(default=60.0, ge=0)
    # A job whose attempts keep failing on transient faults ends FAILED after this long (with the last error).
    transient_give_up_minutes: float = Field(default=1440.0, gt=0)
    # One reconcile pass stops taking jobs after this long (below host.json's 10-minute functionTimeout).
    reconcile_budget_seconds: float = Field(default=240.0, gt=0)
    reconcile_workers: int = Field(default=4, ge=1, le=32)
    http_max_retries: int = Field(default=5, ge=0, le=20)
    http_backoff_cap_seconds: float = Field(default=30.0, gt=0)
    reconcile_schedule: str = "0 */1 * * * *"
    sweep_schedule: str = "0 */30 * * * *"
    # issue 11: where completion events go (unset: no events); the key only for the local stand-in.
    completion_topic_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    completion_topic_key: str | None = None
    completion_event_prefix: str = Field(default="CatalogIngest", pattern=r"^[A-Za-z0-9][A-Za-z0-9.]{0,62}$")

    @field_validator("geocatalog_endpoint")
    @classmethod
    def _endpoint_is_url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://<name>.<region>.geocatalog.spatio.azure.com")
        return v.rstrip("/")

    @field_validator("sas_refresh_margin_hours")
    @classmethod
    def _margin_below_lifetime(cls, v: float, info: Any) -> float:
        life = info.data.get("sas_lifetime_hours")
        if life is not None and v >= life:
            raise ValueError(f"must be smaller than SAS_LIFETIME_HOURS ({life})")
        return v

    @model_validator(mode="after")
    def _staging_apart_from_reports(self) -> Settings:
        if self.staging_container == self.report_container:
            raise ValueError(
                "STAGING_CONTAINER must differ from REPORT_CONTAINER: sweep deletes the staging blobs of finished jobs"
            )
        return self

    @model_validator(mode="after")
    def _managed_identity_needs_object_id(self) -> Settings:
        if self.source_kind == SourceKind.MANAGED_IDENTITY and not self.source_object_id:
            raise ValueError(
                "SOURCE_KIND=BlobManagedIdentity needs SOURCE_MANAGED_IDENTITY_OBJECT_ID "
                "(an identity attached to the GeoCatalog)"
            )
        return self

    def rules_or_default(self) -> list[RoutingRule]:
        """The configured rules, or one rule for the watched container when none are set."""
        return self.routing_rules or [RoutingRule(container=self.catalog_container)]


def _read_connection(env: Mapping[str, str], name: str, service: str) -> str | None:
    """A connection string, or the `service` (blob/table) URI of an identity-based connection `name__*`."""
    if env.get(name):
        return env[name]
    for suffix in (f"__{service}ServiceUri", "__serviceUri" if service == "blob" else ""):
        if suffix and env.get(name + suffix):
            return env[name + suffix]
    if env.get(name + "__accountName"):
        return f"https://{env[name + '__accountName']}.{service}.core.windows.net"
    return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigError naming the bad setting."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for field_name, env_name in ENV_NAMES.items():
        if env.get(env_name) not in (None, ""):
            raw[field_name] = env[env_name]
    # Fall back to the binding connections the host already uses, so one setting serves both.
    raw.setdefault("catalog_connection", _read_connection(env, BLOB_TRIGGER_CONNECTION, "blob"))
    raw.setdefault("ledger_connection", _read_connection(env, "AzureWebJobsStorage", "table"))
    raw.setdefault("report_connection", _read_connection(env, "AzureWebJobsStorage", "blob"))
    if (
        raw["report_connection"] is None
        and raw.get("ledger_connection")
        and is_connection_string(raw["ledger_connection"])
    ):
        raw["report_connection"] = raw["ledger_connection"]  # local: one connection string serves both
    for key in ("catalog_connection", "ledger_connection", "report_connection"):
        if raw[key] is None:
            del raw[key]
    if "asset_containers" in raw:  # a comma-separated list of container names
        raw["asset_containers"] = [name.strip() for name in raw["asset_containers"].split(",") if name.strip()]
    if "routing_rules" in raw:
        try:
            raw["routing_rules"] = json.loads(raw["routing_rules"])
        except json.JSONDecodeError as exc:
            raise ConfigError(f"setting ROUTING_RULES is not valid JSON: {exc.msg} at position {exc.pos}") from None
    try:
        return Settings(**raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a rule across settings: its message names them
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            field_name = str(err["loc"][0])
            env_name = ENV_NAMES.get(field_name, field_name)
            where = ".".join(str(p) for p in err["loc"][1:])
            problems.append(f"setting {env_name}{'[' + where + ']' if where else ''}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
