"""run_errors: every service code has a class and a source; which combinations of codes get a re-run."""

import pytest

from ingest_core.geocatalog import TRANSIENT_OPERATION_CODES
from ingest_core.run_errors import RUN_ERROR_CODES, UNKNOWN, ErrorClass, classify, judge, retryable_codes, run_codes

# geocatalog-api.md §6, the service's error-codes-ingestion list, plus ExecutionError (seen live).
SERVICE_CODES = [
    "AssetTransformationError",
    "CogTransformationError",
    "CogTransformationTimeout",
    "CanceledOperation",
    "CollectionDoesNotExist",
    "EmptyAsset",
    "ErrorsInBatchOperation",
    "GenericHttpIngestionError",
    "GenericIngestionError",
    "ImportFileValidationFailed",
    "IngestionAuthenticationFailed",
    "IngestionResourceConnectionFailed",
    "IngestionResourceForbidden",
    "IngestionResourceTimeout",
    "IngestionResourceUriNotFound",
    "InternalError",
    "InternalIntermitentError",
    "InvalidAssetHref",
    "InvalidGeoparquet",
    "InvalidInputData",
    "InvalidStacCatalog",
    "ItemAlreadyExistsInCollection",
    "ItemSizeExceeded",
    "ItemTransformationError",
    "ManagedIdentityInfoNotFound",
    "NoRecordsToDelete",
    "NoRecordsToPatch",
    "NoRecordsToUpdate",
    "OperationIsCanceled",
    "OperationNotExistsInCollection",
    "PatchValidation",
    "PostItemCollectionSizeExceeded",
    "PublicAccessRestricted",
    "StacValidationFailed",
    "TotalAssetsExceeded",
    "ExecutionError",
]


def test_the_table_holds_exactly_the_services_codes_each_with_a_source():
    assert sorted(RUN_ERROR_CODES) == sorted(SERVICE_CODES)
    assert all(len(info.source) > 30 for info in RUN_ERROR_CODES.values())


def test_the_docs_retryable_codes_are_transient_and_say_so():
    for code in ("IngestionResourceTimeout", "InternalError", "InternalIntermitentError"):
        assert classify(code).cls == ErrorClass.TRANSIENT and classify(code).source.startswith("docs:")


def test_operations_other_than_runs_retry_the_tables_transient_codes():
    assert retryable_codes() == TRANSIENT_OPERATION_CODES
    assert "IngestionAuthenticationFailed" not in retryable_codes()  # needs a SAS refresh first, not a plain retry
    assert {"InternalError", "IngestionResourceConnectionFailed"} <= retryable_codes()


def test_an_unknown_code_is_not_transient():
    assert classify("SomethingNew") is UNKNOWN and UNKNOWN.cls == ErrorClass.PERMANENT


@pytest.mark.parametrize(
    ("codes", "rerun", "refresh"),
    [
        (["InternalIntermitentError"], True, False),
        (["ErrorsInBatchOperation", "IngestionResourceTimeout"], True, False),
        (["IngestionAuthenticationFailed"], True, True),
        (["IngestionResourceForbidden", "InternalError"], True, True),
        (["StacValidationFailed"], False, False),
        (["InternalError", "InvalidStacCatalog"], False, False),  # one permanent cause blocks the re-run
        (["ErrorsInBatchOperation"], False, False),  # no cause named
        ([], False, False),
        (["SomethingNew"], False, False),
        (["CanceledOperation"], False, False),
    ],
)
def test_judge(codes, rerun, refresh):
    verdict = judge(codes)
    assert (verdict.rerun, verdict.refresh_sas) == (rerun, refresh)
    for code in codes:
        if classify(code).cls == ErrorClass.PERMANENT:
            assert code in verdict.why


def test_run_codes_reads_every_history_entry_once_in_order():
    run = {"operation": {"statusHistory": [
        {"status": "Pending"}, {"status": "Running", "errorCode": "InternalError"},
        {"status": "Failed", "errorCode": "ErrorsInBatchOperation"}, {"status": "Failed", "errorCode": "InternalError"},
        "junk", {"errorCode": 7},
    ]}}  # fmt: skip
    assert run_codes(run) == ["InternalError", "ErrorsInBatchOperation"]
    assert run_codes({}) == [] and run_codes({"operation": {"statusHistory": None}}) == []
