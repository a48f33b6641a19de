"""redaction: secrets are removed from any log record, from any logger."""

import logging

from ingest_core.redaction import install_log_redaction, redact

SAS = "sv=2026-10-06&st=2026-01-01T00%3A00%3A00Z&sr=c&sp=rl&sig=abc%2Bdef%3D"


def test_redact_patterns():
    assert "abc" not in redact(f"GET /c/x.json?{SAS} HTTP/1.1")
    assert redact("AccountKey=Eby8vdM==;BlobEndpoint=x") == "AccountKey=REDACTED;BlobEndpoint=x"
    assert redact("Authorization: Bearer eyJ0eXAi.abc.def") == "Authorization: Bearer REDACTED"
    assert redact('{"sasToken": "sv=1&sig=zz"}') == '{"sasToken": "REDACTED"}'
    assert redact("nothing secret here") == "nothing secret here"


def test_records_from_any_logger_are_redacted(caplog):
    install_log_redaction()
    install_log_redaction()  # idempotent
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug('"GET /c/x.json?%s HTTP/1.1" 200', SAS)
    logging.getLogger("some.library").warning("token Bearer %s", "secret-token-value")
    assert "abc%2Bdef" not in caplog.text and "secret-token-value" not in caplog.text
    assert "sig=REDACTED" in caplog.text


def test_cap_text_keeps_short_text_and_marks_what_it_cuts():
    from ingest_core.redaction import cap_text

    assert cap_text("short", 100) == "short"
    capped = cap_text("x" * 100_000, 1000)
    assert len(capped) <= 1002 and capped.startswith("x" * 900) and capped.endswith("more characters]")
