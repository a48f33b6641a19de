"""reports: the report document says what happened and what to do, and no text in it is unbounded."""

from ingest_core.job import Job
from ingest_core.reports import MAX_REPORT_WARNING, MAX_REPORT_WARNINGS, REPORT_TEXT_CAP, build_report
from ingest_core.states import JobState


def test_report_lists_warnings_and_advice():
    job = Job("j1", "https://a.blob.core.windows.net/c/t/catalog.json", "e", state=JobState.PARTIAL,
              warnings=["1 of 2 items predicted to fail", "item i (f): geometry-missing [will fail]: no geometry"])  # fmt: skip
    report = build_report(job)
    assert report["outcome"] == "PARTIAL" and report["warnings"][1].startswith("item i (f): geometry-missing")
    assert "Some items failed" in report["what_to_do"]


def test_every_text_in_a_report_is_capped_with_a_visible_mark():
    huge = "z" * 1_000_000
    job = Job("j1", "https://a.blob.core.windows.net/c/t/catalog.json", "e", state=JobState.INVALID,
              last_error=huge, error_where=huge, warnings=["w" * 5000] * 200)  # fmt: skip
    report = build_report(job)
    assert len(report["error"]) <= REPORT_TEXT_CAP + 2 and report["error"].endswith("more characters]")
    assert len(report["where"]) <= REPORT_TEXT_CAP + 2 and len(report["job"]["last_error"]) <= REPORT_TEXT_CAP + 2
    assert len(report["warnings"]) == MAX_REPORT_WARNINGS
    assert all(len(w) <= MAX_REPORT_WARNING + 2 and "truncated" in w for w in report["warnings"])
