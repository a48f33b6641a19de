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
