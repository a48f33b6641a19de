"""Routing rules: which container/prefix goes to which collection, with which policy and options."""

from __future__ import annotations

import posixpath
import re
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

COLLECTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")


class CollectionPolicy(str, Enum):
    """What to do when the target collection does not exist yet."""

    FROM_FILE = "from_file"  # create it from collection.json beside the catalog; INVALID without one
    PLACEHOLDER = "placeholder"  # collection.json when present, else a placeholder built from the catalog
    REQUIRE = "require"  # never create: INVALID when it is missing


class ConfigMode(str, Enum):
    """How a drop's collection configuration meets what the collection already has."""

    MERGE = "merge"  # create or replace what the drop names; leave everything else alone
    REPLACE = "replace"  # also delete render options, mosaics and queryables the drop does not name


class RoutingRule(BaseModel):
    """One rule. `collection` may hold `{catalog_id}` and `{folder}` (first path segment)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account: str | None = None  # None: any account (the watched one)
    container: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    collection: str = "{catalog_id}"
    collection_policy: CollectionPolicy = Field(default=CollectionPolicy.PLACEHOLDER, alias="collectionPolicy")
    skip_existing_items: bool = Field(default=True, alias="skipExistingItems")
    keep_original_assets: bool = Field(default=False, alias="keepOriginalAssets")
    # A blob beside the catalog (e.g. "_SUCCESS") whose presence says the tree is complete: used instead of
    # waiting for the settle window.
    ready_marker: str | None = Field(default=None, alias="readyMarker", min_length=1, pattern=r"^[^/]+$")
    config_mode: ConfigMode = Field(default=ConfigMode.MERGE, alias="configMode")
    # A `.parquet` blob under this rule is a stac-geoparquet drop (importType StacGeoparquet).
    stac_geoparquet: bool = Field(default=False, alias="stacGeoparquet")

    def covers(self, account: str, container: str, path: str) -> bool:
        """True when this rule's account, container and prefix match the blob."""
        if self.account and self.account.lower() != account.lower():
            return False
        return self.container == container and path.startswith(self.prefix)

    def collection_id(self, path: str, catalog_id: str) -> str:
        """Resolve the collection id template for a catalog at `path` with STAC id `catalog_id`."""
        folder = path.split("/", 1)[0] if "/" in path else posixpath.splitext(path)[0]
        return self.collection.replace("{catalog_id}", catalog_id).replace("{folder}", folder)


def watches_container(rules: list[RoutingRule], account: str, container: str) -> bool:
    """True when any rule names this account and container (events elsewhere are not ours)."""
    return any(r.container == container and (not r.account or r.account.lower() == account.lower()) for r in rules)


def match_rule(rules: list[RoutingRule], account: str, container: str, path: str) -> RoutingRule | None:
    """The most specific (longest prefix) rule covering the blob, or None."""
    hits = [r for r in rules if r.covers(account, container, path)]
    return max(hits, key=lambda r: len(r.prefix)) if hits else None


def valid_collection_id(collection_id: str) -> bool:
    """GeoCatalog collection ids: 3-32 characters, letters, digits, '-' and '_'."""
    return bool(COLLECTION_ID_RE.match(collection_id))
