"""reconcile.outcome: how a run's status and counters map to a terminal job state."""

import pytest

from ingest_core.reconcile import outcome
from ingest_core.states import JobState


def run(status, ok=0, failed=0, history=None):
    return {"operation": {"status": status, "totalSuccessfulItems": ok, "totalFailedItems": failed,
                          "statusHistory": history or [{"status": status}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("r", "state"),
    [
        (run("Pending"), None),
        (run("Running", ok=3), None),
        (run("Succeeded", ok=6), JobState.SUCCEEDED),
        (run("Succeeded", ok=5, failed=1), JobState.PARTIAL),
        (run("Failed", ok=5, failed=1), JobState.PARTIAL),
        (run("Failed"), JobState.FAILED),
        (run("Canceled"), JobState.FAILED),
    ],
)
def test_outcome(r, state):
    assert outcome(r)[0] == state


def test_failure_reason_comes_from_status_history():
    r = run("Failed", history=[{"status": "Pending"},
                               {"status": "Failed", "errorCode": "IngestionAuthenticationFailed", "errorMessage": "SAS expired"}])  # fmt: skip
    assert outcome(r) == (JobState.FAILED, "IngestionAuthenticationFailed: SAS expired")
