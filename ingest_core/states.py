"""The one job-state enum and the transitions it allows."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """Where a dropped catalog is in its life."""

    RECEIVED = "RECEIVED"
    DEFERRED = "DEFERRED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    INVALID = "INVALID"
    IGNORED = "IGNORED"
    SUPERSEDED = "SUPERSEDED"

    @property
    def terminal(self) -> bool:
        """Terminal states never change."""
        return self in TERMINAL


TERMINAL = frozenset(
    {JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.INVALID, JobState.IGNORED, JobState.SUPERSEDED}
)
# Work that has not started a run yet: a newer upload of the same blob supersedes it.
NOT_STARTED = frozenset({JobState.RECEIVED, JobState.DEFERRED, JobState.QUEUED})

ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset(
        {JobState.DEFERRED, JobState.QUEUED, JobState.RUNNING, JobState.FAILED, JobState.INVALID, JobState.IGNORED,
         JobState.SUPERSEDED}
    ),
    JobState.DEFERRED: frozenset(
        {JobState.RECEIVED, JobState.QUEUED, JobState.RUNNING, JobState.INVALID, JobState.IGNORED,
         JobState.SUPERSEDED, JobState.FAILED}
    ),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.SUPERSEDED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED}),
}  # fmt: skip


def can_move(old: JobState, new: JobState) -> bool:
    """True when old -> new is a legal transition."""
    return new in ALLOWED.get(old, frozenset())
