"""When reconcile passes run: on change, when a pass asks to look again, and at the rare resync.

Watch events request a pass of the object they concern and of its owners (``request``); the
request is debounced per object, so a burst of pod events becomes one pass. A pass that cannot
finish yet says when to look again (``RetryLater``), and a pass that fails unexpectedly is
retried with a doubling delay; either way the request is scheduled here, not by kopf, which
does not retry event handlers. The periodic resync (``reconcile-interval``, 5 minutes by
default) only requests passes of what the cache holds: a safety net, not a clock the
operator depends on.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable

from . import config, names, pass_gate, reconcile, reconcile_job
from . import status as st
from .errors import BuildError, OwnerGone, Rejected, RetryLater, ShuttingDown
from .kube import transient_failure
from .runtime import Runtime
from .status_io import write_status

logger = logging.getLogger("dask_operator")

Pass = Callable[[Runtime, str, str], Awaitable[float | None]]

FAILED = "ReconcileFailed"  # condition: True while passes of the object fail unexpectedly
DEBOUNCE = 0.2  # seconds: events of one object within this window share a pass
PODS_PER_DEBOUNCE = 200  # a pass reading more pods waits proportionally longer (debounce())
MAX_DEBOUNCE = 2.0
BUILD_ERROR_RETRY = 60.0  # a plugin failing to build a manifest rarely fixes itself quickly
FIRST_ERROR_RETRY = 5.0
MAX_ERROR_RETRY = 300.0


async def _cluster(rt: Runtime, namespace: str, name: str) -> float | None:
    await reconcile.reconcile_cluster(rt, namespace, name)
    return None


async def _worker_group(rt: Runtime, namespace: str, name: str) -> float | None:
    await reconcile.reconcile_worker_group(rt, namespace, name)
    return None


PASSES: dict[str, Pass] = {
    names.CLUSTER_KIND: _cluster,
    names.WORKER_GROUP_KIND: _worker_group,
    names.JOB_KIND: reconcile_job.reconcile_job,
}


def request(rt: Runtime, kind: str, namespace: str, name: str, delay: float = DEBOUNCE) -> None:
    """Run a pass of ``kind`` ``namespace/name`` in ``delay`` seconds (or sooner, if asked).
    A change of an object with many pods waits longer: see :func:`debounce`."""
    if rt.closing:
        return
    changed = delay <= DEBOUNCE  # a watch event, not a retry the pass asked for
    if changed:
        delay = debounce(rt.pods_read.get((kind, namespace, name), 0))
    rt.poke((kind, namespace, name), pass_gate.gated(rt, kind, namespace, name, lambda: run(rt, kind, namespace, name, changed=changed), changed=changed), delay)


def debounce(pods: int) -> float:
    """How long events of an object are gathered into one pass, for a pass that reads ``pods``.

    A pass reads every pod of its cluster or group, and while pods change each of their events
    asks for another pass. So the wait grows with the pods (0.2 s up to 200 pods, 1 s at 1,000,
    at most :data:`MAX_DEBOUNCE`): a cluster with thousands of workers costs at most about a
    thousand pod reads a second, and cannot crowd out the passes of small clusters.
    """
    return min(MAX_DEBOUNCE, DEBOUNCE * max(1.0, pods / PODS_PER_DEBOUNCE))


async def run(rt: Runtime, kind: str, namespace: str, name: str, *, changed: bool = False) -> None:
    """One pass, then schedule the next one if the pass asks for it or failed.

    ``changed``: the pass was asked for by a watch event rather than by a scheduled retry. If
    it fails as well, the retry delay stays as it was: only scheduled retries double it. (The
    failure report itself changes the object, and that event must not run the pass again and
    again, each time doubling the delay, until the next try is minutes away.)"""
    key = (kind, namespace, name)
    try:
        later = await PASSES[kind](rt, namespace, name)
        rt.errors.pop(key, None)
        await _clear_failure(rt, kind, namespace, name)
    except ShuttingDown:
        return
    except OwnerGone as exc:  # its deletion event is on the way and ends the story
        logger.info("%s %s/%s: %s", kind, namespace, name, exc)
        return
    except RetryLater as exc:
        logger.info("%s %s/%s: %s (again in %.0f s)", kind, namespace, name, exc, exc.delay)
        later = exc.delay
    except Rejected as exc:  # reported on the object; a change of it requests the next pass
        logger.warning("%s %s/%s: %s", kind, namespace, name, exc)
        later = None
    except BuildError as exc:  # already reported on the object by the pass
        logger.warning("%s %s/%s: %s", kind, namespace, name, exc)
        later = BUILD_ERROR_RETRY
    except Exception as exc:  # noqa: BLE001 - reported on the object; retried, never a storm
        if changed and key in rt.errors:
            later = rt.errors[key]
        else:
            later = min(MAX_ERROR_RETRY, rt.errors.get(key, FIRST_ERROR_RETRY / 2) * 2)
            rt.errors[key] = later
        why = transient_failure(exc)
        if why is None:
            logger.exception("%s %s/%s: pass failed; retrying in %.0f s", kind, namespace, name, later)
            await _report_failure(rt, kind, namespace, name, f"{type(exc).__name__}: {exc}"[:1000], later)
        else:  # an overloaded or restarting API server: no traceback, and the object hears of it
            logger.warning("%s %s/%s: %s; retrying in %.0f s", kind, namespace, name, why, later)
            if later > FIRST_ERROR_RETRY:  # from the second failure in a row, not for one blip
                await _report_failure(rt, kind, namespace, name, why, later)
    if later is not None:
        request(rt, kind, namespace, name, delay=max(DEBOUNCE, later))


async def _report_failure(rt: Runtime, kind: str, namespace: str, name: str, message: str, later: float) -> None:
    """A condition and a Warning Event on the object; never raises (the retry is what matters)."""
    body = rt.cache.get(names.API_VERSION, kind, namespace, name)
    if body is None:
        return
    await rt.kube.event(body, "Warning", FAILED, message)
    failed = st.condition(FAILED, True, FAILED, f"{message} (retrying in {later:.0f} s)")
    try:
        await write_status(rt, copy.deepcopy(body), {"conditions": [failed]})
    except Exception:  # noqa: BLE001 - the API server may be what fails; the Event and log remain
        logger.warning("%s %s/%s: could not write the %s condition", kind, namespace, name, FAILED)


async def _clear_failure(rt: Runtime, kind: str, namespace: str, name: str) -> None:
    """After a failure, the first pass that succeeds turns the condition off (read from the cache)."""
    body = rt.cache.get(names.API_VERSION, kind, namespace, name)
    conditions = (body or {}).get("status", {}).get("conditions") or []
    if body is None or not any(c.get("type") == FAILED and c.get("status") == "True" for c in conditions):
        return
    await write_status(rt, copy.deepcopy(body), {"conditions": [st.condition(FAILED, False, "PassSucceeded", "")]})


def resync(rt: Runtime) -> int:
    """Request a pass of every cached object that has one; returns how many."""
    count = 0
    for kind in PASSES:
        for namespace, name in rt.cache.keys(kind):
            request(rt, kind, namespace, name, delay=DEBOUNCE + count * 0.01)  # spread them out
            count += 1
    return count


def resync_interval() -> float:
    return float(config.get("reconcile-interval"))
