"""Transport-neutral request/response objects and a router on route templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from .errors import ApiError, bad_request


@dataclass
class Request:
    """One parsed HTTP request; `params` holds the path parameters of the matched route."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    base_url: str = ""
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        """A header, case-insensitively."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The JSON body; a 400 when it is missing or malformed."""
        if not self.body:
            raise bad_request("The request body is required")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request("The request body is not valid JSON", "InvalidRequestContent") from exc

    def json_object(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object", "InvalidRequestContent")
        return body

    @property
    def api_version(self) -> str:
        """The request's api-version (already validated by the pipeline)."""
        return self.arg("api-version") or ""

    def url_for(self, path: str, **query: Any) -> str:
        """An absolute URL on this server carrying the request's api-version."""
        args = {"api-version": self.api_version} if self.api_version else {}
        args.update({key: value for key, value in query.items() if value is not None})
        return f"{self.base_url}{path}?{urlencode(args)}"


@dataclass
class Response:
    """What a handler returns; `body` is JSON-serialised unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def payload(self) -> bytes:
        """The encoded body."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[[Request], Response]


class Router:
    """Routes by method and template (`/inma/ingestion-sources/{id}`); first registered wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register a handler for METHOD template."""
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self._routes.append((method, template, re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]]:
        """Return (template, handler, path params); 404/405 as ApiError otherwise."""
        path_matched = False
        for route_method, template, pattern, handler in self._routes:
            found = pattern.match(path)
            if not found:
                continue
            if route_method == method:
                return template, handler, {key: unquote(value) for key, value in found.groupdict().items()}
            path_matched = True
        if path_matched:
            raise ApiError(405, "MethodNotAllowed", f"The method '{method}' is not allowed on '{path}'")
        raise ApiError(404, "NotFound", f"No route matches '{path}'")

    def template_for(self, method: str, path: str) -> str | None:
        """The template a request would match (for counting), or None."""
        try:
            return self.match(method, path)[0]
        except ApiError:
            return None
