"""A worker group whose scheduler did not answer calls it again only after its backoff."""

from dask_operator.scheduler_backoff import STALE_AFTER, SchedulerBackoff

KEY = ("DaskWorkerGroup", "ns", "c-default")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_blocked_group_waits_out_its_delay_with_the_same_reason():
    clock = Clock()
    backoff = SchedulerBackoff(clock)
    assert backoff.waiting(KEY) is None
    backoff.block(KEY, 20.0, "cannot retire 3 worker(s) safely, the scheduler is unreachable")
    clock.now += 5
    assert backoff.waiting(KEY) == (15.0, "cannot retire 3 worker(s) safely, the scheduler is unreachable")
    clock.now += 15
    assert backoff.waiting(KEY) is None  # the retry itself may call the scheduler


def test_an_answer_clears_the_block_and_old_entries_do_not_pile_up():
    clock = Clock()
    backoff = SchedulerBackoff(clock)
    backoff.block(KEY, 60.0, "blocked")
    backoff.clear(KEY)
    assert backoff.waiting(KEY) is None and len(backoff) == 0
    for i in range(100):
        backoff.block(("DaskWorkerGroup", "ns", f"g{i}"), 5.0, "blocked")
    clock.now += 5 + STALE_AFTER + 1
    backoff.block(KEY, 5.0, "blocked")
    assert len(backoff) == 1
