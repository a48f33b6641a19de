"""The GeoCatalog's ingestion error codes, their class (may a re-run fix it?) and where each decision comes from.

The list is geocatalog-api.md §6 (the service's error-codes-ingestion page, plus `ExecutionError`, seen live).
Only three codes are marked retryable by the docs (collection-configuration-and-limits.md, "Run error codes
that the docs mark as worth retrying"); every other class below is this app's decision, justified in its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ErrorClass(str, Enum):
    """What a re-run can do about a code."""

    TRANSIENT = "transient"  # may pass on its own: re-run as is
    REFRESH = "transient-after-sas-refresh"  # the source's credentials: refresh the SAS, then re-run
    PERMANENT = "permanent"  # the catalog, the items or the setup must change first: no re-run
    AGGREGATE = "aggregate"  # says items failed, not why: decided by the run's other codes


@dataclass(frozen=True)
class CodeInfo:
    """One row of the table."""

    cls: ErrorClass
    source: str  # why this class: the docs, or this app's reasoning


_DOCS = "docs: marked worth retrying (collection-configuration-and-limits.md)"
_CONTENT = "the catalog, an item or an asset is wrong: the same input fails the same way again"
_ITEM_OPS = "an item-operation code (single-item writes), not a bulk-run cause: nothing a re-run changes"

T, R, P, A = ErrorClass.TRANSIENT, ErrorClass.REFRESH, ErrorClass.PERMANENT, ErrorClass.AGGREGATE
RUN_ERROR_CODES: dict[str, CodeInfo] = {
    "IngestionResourceTimeout": CodeInfo(T, _DOCS),
    "InternalError": CodeInfo(T, _DOCS),
    "InternalIntermitentError": CodeInfo(T, _DOCS + " (the service's spelling)"),
    "IngestionResourceConnectionFailed": CodeInfo(
        T, "decided: the service could not reach storage (network or throttling), the same nature as the "
        "timeout the docs mark retryable; a firewall that stays shut fails every re-run and MAX_RERUNS ends it"),
    "CogTransformationTimeout": CodeInfo(
        T, "decided: a time limit of the service's own processing, not a content error (unlike "
        "CogTransformationError); an asset too large to ever finish is bounded by MAX_RERUNS"),
    "IngestionAuthenticationFailed": CodeInfo(
        R, "decided: contract §8.2 says an expired SAS shows up as this during a run; a SAS minted anew fixes an "
        "expired token or a rotated account key (and gives managed-identity roles time to propagate)"),
    "IngestionResourceForbidden": CodeInfo(
        R, "decided: contract §8.2 lists it with the expired-SAS case too, and a SAS without read+list gets it; "
        "the app mints read+list, so a refreshed SAS fixes both"),
    "ManagedIdentityInfoNotFound": CodeInfo(
        P, "setup: the identity is not attached to the GeoCatalog (contract §8.3); attach it, then replay"),
    "PublicAccessRestricted": CodeInfo(
        P, "setup: a URL no ingestion source covers, on an account without public access; a re-run reads it "
        "the same way"),
    "IngestionResourceUriNotFound": CodeInfo(
        P, "the catalog links a blob that does not exist; upload it, then upload the catalog again"),
    "CollectionDoesNotExist": CodeInfo(P, "the collection was deleted meanwhile; a new upload creates it again"),
    "CanceledOperation": CodeInfo(P, "someone canceled the run on purpose: a re-run would override that decision"),
    "OperationIsCanceled": CodeInfo(P, "as CanceledOperation: canceled on purpose"),
    "ExecutionError": CodeInfo(P, "seen live for collection operations that cannot succeed (exists / not exists)"),
    "GenericHttpIngestionError": CodeInfo(
        P, "decided: the docs give no cause; like an unknown code, not re-run blind (see UNKNOWN)"),
    "GenericIngestionError": CodeInfo(P, "decided: as GenericHttpIngestionError"),
    "ErrorsInBatchOperation": CodeInfo(
        A, "the contract's inference for a run with failed items: it names no cause, so the run's other codes "
        "decide; alone it counts as an unknown cause (not re-run)"),
    "AssetTransformationError": CodeInfo(P, _CONTENT),
    "CogTransformationError": CodeInfo(P, _CONTENT),
    "EmptyAsset": CodeInfo(P, _CONTENT),
    "ImportFileValidationFailed": CodeInfo(P, _CONTENT),
    "InvalidAssetHref": CodeInfo(P, _CONTENT),
    "InvalidGeoparquet": CodeInfo(P, _CONTENT),
    "InvalidInputData": CodeInfo(P, _CONTENT),
    "InvalidStacCatalog": CodeInfo(P, _CONTENT),
    "ItemSizeExceeded": CodeInfo(P, _CONTENT + " (a service limit)"),
    "ItemTransformationError": CodeInfo(P, _CONTENT),
    "PostItemCollectionSizeExceeded": CodeInfo(P, _CONTENT + " (a service limit)"),
    "StacValidationFailed": CodeInfo(P, _CONTENT),
    "TotalAssetsExceeded": CodeInfo(P, _CONTENT + " (a service limit)"),
    "PatchValidation": CodeInfo(P, _ITEM_OPS),
    "ItemAlreadyExistsInCollection": CodeInfo(P, _ITEM_OPS + "; the item is there already"),
    "NoRecordsToDelete": CodeInfo(P, _ITEM_OPS),
    "NoRecordsToPatch": CodeInfo(P, _ITEM_OPS),
    "NoRecordsToUpdate": CodeInfo(P, _ITEM_OPS),
    "OperationNotExistsInCollection": CodeInfo(P, "the operation is gone; nothing to re-run against"),
}  # fmt: skip
del T, R, P, A

# A code this table does not know is not re-run: a re-run takes one of the subscription's few bulk slots and
# delays the job's end, and nothing shows the code can pass. The job ends with it in last_error for an
# operator (who can replay), and the fix, if it proves transient, is one row above.
UNKNOWN = CodeInfo(ErrorClass.PERMANENT, "not in the table: not re-run blind")


def classify(code: str) -> CodeInfo:
    """The class of one code (UNKNOWN's for a code not in the table)."""
    return RUN_ERROR_CODES.get(code, UNKNOWN)


def retryable_codes() -> frozenset[str]:
    """Codes that may pass with no action at all (operations other than runs retry exactly these)."""
    return frozenset(code for code, info in RUN_ERROR_CODES.items() if info.cls == ErrorClass.TRANSIENT)


def run_codes(run: dict[str, Any]) -> list[str]:
    """Every distinct error code in a run's statusHistory, in order (the only place the service puts them)."""
    codes: list[str] = []
    for entry in (run.get("operation") or {}).get("statusHistory") or []:
        code = entry.get("errorCode") if isinstance(entry, dict) else None
        if isinstance(code, str) and code and code not in codes:
            codes.append(code)
    return codes


@dataclass(frozen=True)
class Verdict:
    """What a finished run's codes allow: a re-run (after a SAS refresh or not), and why."""

    rerun: bool
    refresh_sas: bool
    why: str


def judge(codes: Iterable[str]) -> Verdict:
    """Re-run only when the run names a cause and every cause it names may pass."""
    causes = [c for c in codes if classify(c).cls != ErrorClass.AGGREGATE]
    if not causes:
        return Verdict(False, False, "the service gave no cause for the failed items: not re-run blind")
    blocking = [c for c in causes if classify(c).cls == ErrorClass.PERMANENT]
    if blocking:
        named = "; ".join(f"{c} ({classify(c).source})" for c in blocking)
        return Verdict(False, False, f"not transient: {named}")
    refresh = any(classify(c).cls == ErrorClass.REFRESH for c in causes)
    return Verdict(True, refresh, "transient: " + ", ".join(causes))
