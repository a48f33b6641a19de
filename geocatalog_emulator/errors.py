"""Error types: synchronous API errors (HTTP) and asynchronous ingestion failures (run history)."""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP error answered as {"error": {"code", "message"}} with X-Ms-Error-Code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        """The Azure.Core ErrorResponse body."""
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str, code: str = "BadRequest") -> ApiError:
    """400 for a malformed request."""
    return ApiError(400, code, message)


def not_found(message: str) -> ApiError:
    """404 with the code the service records for missing resources."""
    return ApiError(404, "ResourceNotFound", message)


def conflict(message: str) -> ApiError:
    """409; the service's code string is unknown, the contract picks "Conflict"."""
    return ApiError(409, "Conflict", message)


class Codes:
    """Asynchronous error codes from the service docs (error-codes-ingestion) and live traffic."""

    AUTH_FAILED = "IngestionAuthenticationFailed"
    FORBIDDEN = "IngestionResourceForbidden"
    URI_NOT_FOUND = "IngestionResourceUriNotFound"
    CONNECTION_FAILED = "IngestionResourceConnectionFailed"
    TIMEOUT = "IngestionResourceTimeout"
    GENERIC_HTTP = "GenericHttpIngestionError"
    GENERIC = "GenericIngestionError"
    PUBLIC_ACCESS = "PublicAccessRestricted"
    INVALID_CATALOG = "InvalidStacCatalog"
    STAC_VALIDATION = "StacValidationFailed"
    INVALID_ASSET_HREF = "InvalidAssetHref"
    EMPTY_ASSET = "EmptyAsset"
    BATCH_ERRORS = "ErrorsInBatchOperation"
    COLLECTION_MISSING = "CollectionDoesNotExist"
    ITEM_EXISTS = "ItemAlreadyExistsInCollection"
    MI_NOT_FOUND = "ManagedIdentityInfoNotFound"
    CANCELED = "CanceledOperation"
    EXECUTION = "ExecutionError"
    INTERNAL = "InternalError"
    NO_RECORDS_TO_DELETE = "NoRecordsToDelete"
    NO_RECORDS_TO_PATCH = "NoRecordsToPatch"
    NO_RECORDS_TO_UPDATE = "NoRecordsToUpdate"
    INVALID_GEOPARQUET = "InvalidGeoparquet"


class IngestionFailure(Exception):
    """An asynchronous failure: ends an item or a whole operation with a documented code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
