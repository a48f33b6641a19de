"""The emulator's item-failure faults: validation, which items fail, how often, and the code a run ends with."""

import pytest

from geocatalog_emulator.errors import IngestionFailure
from geocatalog_emulator.item_faults import InjectedFailure, ItemFaults, run_failure


def test_chosen_items_fail_times_then_ingest():
    faults = ItemFaults()
    fault = faults.add({"kind": "item-failure", "items": ["a", "b"], "code": "InternalIntermitentError", "times": 2})
    assert faults.draw("c1", "x") is None
    for _ in range(2):
        failure = faults.draw("c1", "a")
        assert isinstance(failure, InjectedFailure) and failure.code == "InternalIntermitentError"
        assert "'a'" in failure.message
    assert faults.draw("c1", "a") is None and faults.draw("c1", "b") is not None
    (shown,) = faults.snapshot()
    assert shown["id"] == fault.id and shown["fired"] == 3 and shown["failedItems"] == ["c1/a", "c1/b"]


def test_a_rate_picks_each_item_once_and_a_seed_makes_it_reproducible():
    def picked(seed):
        faults = ItemFaults()
        faults.add({"kind": "item-failure", "code": "InternalError", "rate": 0.3, "seed": seed})
        first = {i for i in range(200) if faults.draw("c", str(i))}
        again = {i for i in range(200) if faults.draw("c", str(i))}  # times=1: each picked item failed once
        return first, again

    first, again = picked(7)
    assert 30 < len(first) < 90 and again == set() and picked(7)[0] == first


def test_a_collection_limits_the_fault():
    faults = ItemFaults()
    faults.add({"kind": "item-failure", "code": "InternalError", "collection": "c1"})
    assert faults.draw("c2", "a") is None and faults.draw("c1", "a") is not None
    faults.clear()
    assert faults.snapshot() == [] and faults.draw("c1", "b") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "item-failure"},
        {"kind": "item-failure", "code": "no spaces allowed"},
        {"kind": "item-failure", "code": "InternalError", "items": "a"},
        {"kind": "item-failure", "code": "InternalError", "rate": 1.5},
        {"kind": "item-failure", "code": "InternalError", "times": 0},
        {"kind": "item-failure", "code": "InternalError", "times": True},
        {"kind": "item-failure", "code": "InternalError", "collection": 3},
    ],
)
def test_bad_specs_are_refused_with_what_to_fix(bad):
    faults = ItemFaults()
    with pytest.raises(ValueError, match="'(code|items|rate|times|collection)'"):
        faults.add(bad)
    assert faults.snapshot() == []


def test_a_run_ends_with_the_faults_code_only_when_every_failure_was_injected_with_it():
    injected = [InjectedFailure("InternalError", "x"), InjectedFailure("InternalError", "y")]
    assert run_failure(injected, 2, 6, "ErrorsInBatchOperation").code == "InternalError"
    natural = IngestionFailure("StacValidationFailed", "bad item")
    mixed = run_failure([*injected, natural], 3, 6, "ErrorsInBatchOperation")
    assert mixed.code == "ErrorsInBatchOperation" and "first: InternalError" in mixed.message
    two_codes = run_failure([injected[0], InjectedFailure("EmptyAsset", "z")], 2, 6, "ErrorsInBatchOperation")
    assert two_codes.code == "ErrorsInBatchOperation"
    broken_child = run_failure(injected, 3, 6, "ErrorsInBatchOperation")  # a failed child catalog has no cause
    assert broken_child.code == "ErrorsInBatchOperation" and broken_child.message.startswith("3 of 6")
