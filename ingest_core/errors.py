"""The three kinds of failure the pipeline tells apart, and what each one does to a job."""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error raised by ingest_core."""


class ConfigError(IngestError):
    """A setting is missing or malformed; the message names the setting."""


class InvalidDrop(IngestError):
    """Bad input: the job becomes INVALID with this reason and is never retried."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{reason} (at {where})" if where else reason)


class TransientError(IngestError):
    """A fault that may pass (connection, timeout, 408/429/5xx): retried, then re-raised to the platform."""


class ServiceError(IngestError):
    """A non-retryable answer from a service (401/403/404/409, other 4xx); carries the service's code."""

    def __init__(self, status: int, code: str, message: str, method: str = "", route: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.route = route
        super().__init__(f"{method} {route} -> HTTP {status} {code}: {message}".strip())


class StaleRow(Exception):
    """A conditional table write lost: another writer changed (or removed) the row first."""


class StaleJob(StaleRow):
    """Another writer changed the job first (ETag mismatch); re-read before deciding anything."""


class RowExists(Exception):
    """An insert found the row already there (a claim that someone else made first)."""


class IllegalTransition(ValueError):
    """A state change the transition table does not allow (a bug, never bad input)."""


class UnknownField(AttributeError):
    """A job update named a field the Job does not have (a typo would otherwise be lost silently)."""


class BlobNotFound(Exception):
    """The blob does not exist (yet)."""
