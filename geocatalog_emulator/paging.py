"""OData `$top`/`$skip` paging for the `/inma` lists: {"value", "nextLink"}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import bad_request
from .routing import Request


def int_arg(request: Request, name: str, default: int | None, minimum: int = 0) -> int | None:
    """An integer query parameter; 400 when it is not an integer >= minimum."""
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"The query parameter '{name}' must be an integer") from exc
    if value < minimum:
        raise bad_request(f"The query parameter '{name}' must be at least {minimum}")
    return value


def page(request: Request, rows: Sequence[Any], page_size: int) -> dict[str, Any]:
    """Slice `rows` by $skip/$top; `$top` caps the total, pages hold at most `page_size`.

    The nextLink is absolute and keeps every other query parameter, as the SDK pager expects.
    """
    skip = int_arg(request, "$skip", 0) or 0
    top = int_arg(request, "$top", None)
    size = page_size if top is None else min(top, page_size)
    chunk = list(rows[skip : skip + size])
    body: dict[str, Any] = {"value": chunk}
    remaining_top = None if top is None else top - len(chunk)
    more = skip + len(chunk) < len(rows)
    if chunk and more and (remaining_top is None or remaining_top > 0):
        extra = {key: values[0] for key, values in request.query.items() if key not in ("api-version", "$skip", "$top")}
        extra["$skip"] = str(skip + len(chunk))
        if remaining_top is not None:
            extra["$top"] = str(remaining_top)
        body["nextLink"] = request.url_for(request.path, **extra)
    return body
