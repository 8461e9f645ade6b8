"""Events of an object with many pods are gathered over a longer window."""

from __future__ import annotations

from dask_operator import passes


def test_small_objects_keep_the_short_debounce() -> None:
    assert passes.debounce(0) == passes.debounce(200) == passes.DEBOUNCE


def test_the_debounce_grows_with_the_pods_a_pass_reads_up_to_a_ceiling() -> None:
    assert passes.debounce(1000) == 5 * passes.DEBOUNCE
    assert passes.debounce(400) < passes.debounce(1000) < passes.debounce(10000) == passes.MAX_DEBOUNCE
