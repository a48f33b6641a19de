"""states: terminal states never change; the allowed transitions follow the design."""

from ingest_core.states import TERMINAL, JobState, can_move


def test_terminal_states_have_no_way_out():
    for t in TERMINAL:
        assert t.terminal
        assert not any(can_move(t, other) for other in JobState)


def test_main_path_is_allowed():
    path = [JobState.RECEIVED, JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert all(can_move(a, b) for a, b in zip(path, path[1:], strict=False))
    assert can_move(JobState.DEFERRED, JobState.RECEIVED)
    assert not can_move(JobState.RUNNING, JobState.QUEUED)
