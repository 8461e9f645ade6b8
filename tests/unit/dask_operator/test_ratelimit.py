"""The operator's client-side rate limit (kube-api.qps / kube-api.burst), on a fake clock."""

from dask_operator.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_then_requests_are_spaced_by_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]
    assert [round(w, 9) for w in waits] == [0.1, 0.2, 0.3]  # served in order, one per 1/rate


def test_tokens_come_back_with_time_up_to_the_burst():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    bucket.reserve()
    bucket.reserve()
    clock.now += 60  # a long quiet period saves up only `burst` tokens
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    assert bucket.reserve() > 0


def test_a_rate_of_zero_means_no_limit():
    bucket = TokenBucket(rate=0, burst=1, clock=Clock())
    assert bucket.unlimited
    assert all(bucket.reserve() == 0.0 for _ in range(1000))
