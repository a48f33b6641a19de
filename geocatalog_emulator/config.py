"""Emulator settings: every knob the server, the CLI and the tests can turn."""

from __future__ import annotations

from dataclasses import dataclass, field

# The service accepts these api-version values (§1 of the contract); anything else is a 400.
API_VERSIONS: tuple[str, ...] = ("2026-04-15", "2025-04-30-preview", "2024-01-31-preview")
DEFAULT_API_VERSION = API_VERSIONS[0]

# A fake user-assigned identity, listed by GET /inma/ingestion-sources/managed-identities.
DEFAULT_MANAGED_IDENTITY = {
    "objectId": "8a1c3e5f-0000-4000-8000-00000000e001",
    "resourceId": (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/geocatalog-emulator"
    ),
}


@dataclass
class Settings:
    """Behaviour switches; the defaults are the service-like choices."""

    require_token: str | None = None
    asset_connection_string: str | None = None
    asset_container: str = "geocatalog-assets"
    ca_bundle: str | None = None
    # Timing knobs (seconds) so tests can watch a run or an operation mid-flight.
    item_delay: float = 0.0
    run_start_delay: float = 0.0
    operation_delay: float = 0.0
    # The docs limit a subscription to 5 concurrent bulk operations; extra runs stay Pending.
    max_concurrent_runs: int = 5
    # The docs limit one bulk ingestion to 10,000 items; a run whose catalog links more fails before any item.
    max_items_per_run: int = 10_000
    # Leave asset hrefs that no ingestion source covers untouched instead of fetching them.
    keep_external_asset_hrefs: bool = False
    # Top-level status of a run where some items failed: the contract infers "Failed".
    partial_failure_status: str = "Failed"
    # An SDK test says the service requires `st` in the SAS token.
    require_sas_start: bool = True
    managed_identities: list[dict[str, str]] = field(default_factory=lambda: [dict(DEFAULT_MANAGED_IDENTITY)])
    http_timeout: float = 10.0
    page_size: int = 100

    def validate(self) -> None:
        """Reject impossible combinations early, naming the setting."""
        if self.partial_failure_status not in ("Failed", "Succeeded"):
            raise ValueError("partial_failure_status must be 'Failed' or 'Succeeded'")
        if self.max_concurrent_runs < 1:
            raise ValueError("max_concurrent_runs must be at least 1")
        if self.max_items_per_run < 1:
            raise ValueError("max_items_per_run must be at least 1")
        if min(self.item_delay, self.run_start_delay, self.operation_delay) < 0:
            raise ValueError("delays must not be negative")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
