"""Link hrefs resolved to one canonical URL, so the inside-the-container check sees what storage will serve.

Storage decodes a request path once (%2e%2e is "..", %2f is "/") and resolves dot segments, so a check on the
raw text can be walked around: `./%2e%2e/other/x.json` passes a prefix test yet reads container `other`.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urljoin, urlsplit

from ingest_core.errors import InvalidDrop
from ingest_core.redaction import cap_text

DEFAULT_PORTS = {"https": 443, "http": 80}
SHOWN = 300  # characters of an href quoted in an error


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/".join(out) if out and out[0] == "" else "/" + "/".join(out)


def canonical_url(url: str) -> str:
    """scheme://host[:port]/path, lower-case scheme and host, default port dropped, path decoded once,
    backslashes and dot segments resolved, then percent-encoded one way; no query, no fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = _remove_dot_segments(unquote(parts.path).replace("\\", "/"))
    return f"{scheme}://{netloc}{quote(path, safe='/-_.~')}"


def resolve_href(base: str, href: str) -> str:
    """The canonical absolute URL of `href` read from the document at `base`; InvalidDrop when it is no URL."""
    try:
        return canonical_url(urljoin(base, href.strip()))
    except ValueError:  # a bad port or IPv6 literal
        raise InvalidDrop(f"link href {cap_text(href, SHOWN)!r} is not a usable URL", where=base) from None


def inside(url: str, container_url: str) -> bool:
    """True when the canonical `url` names a blob in the container (segment-wise: `cat-private` is not in `cat`)."""
    return url.startswith(canonical_url(container_url).rstrip("/") + "/")


def storage_root(container_url: str) -> str:
    """scheme://host[/account] for path-style URLs: the part shared by every container of the account."""
    return canonical_url(container_url).rstrip("/").rsplit("/", 1)[0]
