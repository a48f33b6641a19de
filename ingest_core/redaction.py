"""Keep SAS signatures, account keys and bearer tokens out of every log record, whoever logs it.

Libraries below us (urllib3 at DEBUG, azure-core's HTTP logging) print request URLs; a SAS in a URL
would leak through them. A record factory redacts at creation, so every logger and handler is covered.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_PATTERNS = (
    (re.compile(r"(?i)(\bsig=)[^&\s'\"]+"), r"\1REDACTED"),
    (re.compile(r"(?i)(\bsig%3D)[^&\s'\"]+"), r"\1REDACTED"),
    (re.compile(r"(?i)(AccountKey=)[^;\s'\"]+"), r"\1REDACTED"),
    (re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1REDACTED"),
    (re.compile(r"(?i)(\"sasToken\"\s*:\s*\")[^\"]*"), r"\1REDACTED"),
)
_MARKERS = ("sig=", "sig%3d", "accountkey=", "bearer ", "sastoken")
_installed = False
_lock = threading.Lock()


def redact(text: str) -> str:
    """The text with every secret-looking value replaced by REDACTED."""
    lowered = text.lower()
    if not any(m in lowered for m in _MARKERS):
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def install_log_redaction() -> None:
    """Wrap the log record factory once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is the logging module's to report, not ours
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


TRUNCATION_MARK = " …[truncated, {n} more characters]"


def cap_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with a visible mark saying how much was cut."""
    if len(text) <= limit:
        return text
    mark = TRUNCATION_MARK.format(n=len(text) - limit)
    keep = max(0, limit - len(mark))
    return text[:keep] + TRUNCATION_MARK.format(n=len(text) - keep)


# Reports and events are read by people and automations: long texts are cut (visibly) so one huge service
# message cannot bloat them.
OUTPUT_TEXT_CAP = 8_000


def scrub(value: Any) -> Any:
    """`value` with every string redacted and capped, recursively (what leaves the app in a report or an event)."""
    if isinstance(value, str):
        return cap_text(redact(value), OUTPUT_TEXT_CAP)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value
