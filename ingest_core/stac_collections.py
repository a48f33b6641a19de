"""The target collection: known (process cache), created as the rule's policy says, or refused."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ingest_core.errors import InvalidDrop, ServiceError
from ingest_core.routing import CollectionPolicy, RoutingRule
from ingest_core.runtime import Runtime
from ingest_core.stac import Preflight, collection_body, sibling_url

log = logging.getLogger(__name__)


def ensure_collection(
    rt: Runtime,
    collection_id: str,
    rule: RoutingRule,
    pf: Preflight,
    catalog_url: str,
    read: Callable[[str], dict[str, Any] | None],
    configured: dict[str, Any] | None = None,
) -> bool:
    """Make sure the collection exists; True when this call created it (so it has no ingestions yet).

    Creation goes first (no GET): the POST's operation says "exists" when it does, so a new collection
    costs the POST and its poll, and a known one costs nothing (the process remembers it).
    """
    if collection_id in rt.known_collections:
        return False
    if rule.collection_policy == CollectionPolicy.REQUIRE:
        if rt.geocatalog.get_collection(collection_id) is None:
            raise InvalidDrop(
                f"collection {collection_id!r} does not exist and the routing rule's policy is 'require': "
                "create the collection first, or change the rule's collectionPolicy"
            )
        rt.known_collections.add(collection_id)
        return False
    # A collection.json found by the configuration search (config/ folders) wins over the one beside the catalog.
    from_file = configured or (
        pf.catalog if pf.catalog.get("type") == "Collection" else read(sibling_url(catalog_url, "collection.json"))
    )
    if from_file is not None and not isinstance(from_file, dict):
        raise InvalidDrop("collection.json is not a JSON object", where=sibling_url(catalog_url, "collection.json"))
    if rule.collection_policy == CollectionPolicy.FROM_FILE and from_file is None:
        raise InvalidDrop(
            "the routing rule's policy is 'from_file' but there is no collection.json beside the catalog: "
            "upload one, then upload the catalog again"
        )
    try:
        rt.geocatalog.create_collection(collection_body(collection_id, pf, from_file))
    except ServiceError as exc:
        if exc.status == 409:  # it exists (made earlier, or concurrently by another instance): what we wanted
            rt.known_collections.add(collection_id)
            return False
        if exc.status == 400 and from_file is not None:
            raise InvalidDrop(
                f"the GeoCatalog rejected collection.json: {exc.code}: {exc.message}; fix it and upload the catalog again",
                where=sibling_url(catalog_url, "collection.json"),
            ) from None
        raise
    log.info("collection %s created", collection_id)
    rt.known_collections.add(collection_id)
    return True
