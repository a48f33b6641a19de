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


def test_a_signature_inside_a_percent_encoded_url_is_redacted_up_to_the_next_parameter():
    # `\b` sees no boundary in `%26sig`: the encoded `&` and `?` must start a signature too.
    assert redact("url?sv=1%26sig%3Dabc%2Bdef&x=1") == "url?sv=1%26sig%3DREDACTED&x=1"
    assert redact("next=%2Fc%3Fsig%3DAB%2Fcd%26se%3D1") == "next=%2Fc%3Fsig%3DREDACTED%26se%3D1"
    assert redact("design=1&signal=2") == "design=1&signal=2"


def test_records_without_secrets_keep_their_message_and_args(caplog):
    install_log_redaction()
    caplog.set_level(logging.INFO)
    logging.getLogger("t").info("job %s done", "j1")
    (record,) = caplog.records
    assert record.msg == "job %s done" and record.args == ("j1",) and record.getMessage() == "job j1 done"


def test_a_malformed_record_is_left_for_logging_to_report(caplog):
    install_log_redaction()
    factory = logging.getLogRecordFactory()
    record = factory("t", logging.INFO, __file__, 1, "%s %s", ("only one",), None)
    assert record.msg == "%s %s" and record.args == ("only one",)


def test_cap_text_cuts_visibly_and_never_past_the_limit():
    from ingest_core.redaction import cap_text

    assert cap_text("abc", 3) == "abc"
    cut = cap_text("x" * 100, 50)
    assert (
        len(cut) == 50 and cut.startswith("x") and cut.endswith(f"[truncated, {100 - cut.index(' ')} more characters]")
    )
    assert cap_text("x" * 100, 5).endswith("more characters]")  # a limit below the mark keeps only the mark


def test_installing_twice_wraps_the_factory_once():
    install_log_redaction()
    factory = logging.getLogRecordFactory()
    install_log_redaction()
    assert logging.getLogRecordFactory() is factory
