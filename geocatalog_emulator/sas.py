"""SAS token handling: parsing, expiration, and keeping tokens out of every message."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from .errors import bad_request
from .models import format_time, parse_time


def normalize_token(token: str) -> str:
    """Strip the leading `?` the portal docs tell users to paste."""
    return token.strip().lstrip("?")


def token_fields(token: str) -> dict[str, str]:
    """The SAS query fields, URL-decoded (`se=2099-12-31T23%3A59%3A59Z` → the timestamp)."""
    return {key: values[0] for key, values in parse_qs(normalize_token(token), keep_blank_values=True).items()}


def validate_token(token: object, require_start: bool) -> str:
    """Check the fields the service needs; return the expiration in the service's format."""
    if not isinstance(token, str) or not normalize_token(token):
        raise bad_request("connectionInfo.sasToken is required for a SasToken ingestion source")
    fields = token_fields(token)
    missing = [name for name in ("sig", "se") if not fields.get(name)]
    if require_start and not fields.get("st"):
        missing.append("st")
    if missing:
        raise bad_request(f"The SAS token is missing required parameter(s): {', '.join(missing)}")
    try:
        return format_time(parse_time(fields["se"]))
    except ValueError as exc:
        raise bad_request("The SAS token has an invalid 'se' (expiry) value") from exc


def redact(url: str) -> str:
    """The URL without its query string, so no SAS ever reaches a log line or a message."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def with_token(url: str, token: str | None) -> str:
    """Append a SAS token (or nothing) to a blob URL."""
    if not token:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{normalize_token(token)}"
