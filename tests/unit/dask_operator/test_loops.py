import asyncio

from dask_operator.errors import RetryLater
from dask_operator.loops import Loops


async def test_one_loop_per_key_survives_failures_and_stops():
    loops = Loops()
    calls = []

    async def round_() -> float:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first round fails")
        if len(calls) == 2:
            raise RetryLater("not yet", delay=0.01)
        return 0.01

    loops.ensure(("k", "ns", "a"), round_, retry_delay=0.01)
    loops.ensure(("k", "ns", "a"), round_)  # already running: no second loop
    await asyncio.sleep(0.5)
    assert loops.running(("k", "ns", "a")) and len(calls) >= 4  # rounds at least 0.1 s apart
    loops.stop(("k", "ns", "a"))
    await asyncio.sleep(0)
    count = len(calls)
    await asyncio.sleep(0.25)
    assert len(calls) == count and not loops.running(("k", "ns", "a"))
    await loops.close()
