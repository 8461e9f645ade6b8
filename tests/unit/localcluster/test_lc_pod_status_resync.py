"""The kubelet posts a pod's status again when the API holds one it did not post (the node
controller marks pods not ready while it cannot hear from the node), and only then."""

import asyncio

from localcluster import pods
from localcluster.config import ClusterConfig
from localcluster.kubelet import Kubelet
from localcluster.pods import PodWorker, status_digest

CFG = ClusterConfig(state="/nonexistent", bin_dir="/nonexistent", venv="/venv")


def _running_worker():
    pod = {"metadata": {"uid": "u1", "namespace": "ns", "name": "p"},
           "spec": {"containers": [{"name": "c"}]}}
    worker = PodWorker(Kubelet(CFG, client=None), pod)  # type: ignore[arg-type]
    worker.sandbox = worker.initialized = True
    worker.phase = "Running"
    worker.containers[0].state = {"running": {}}
    worker.containers[0].ready = True
    posted = worker.status()
    worker.last_sent = posted
    worker.sent_digests.append(status_digest(posted))
    worker.changed.clear()
    return worker, posted


def _with_ready(status, value):
    conditions = [dict(c, status=value) if c["type"] == "Ready" else c for c in status["conditions"]]
    return {**status, "conditions": conditions}


def test_status_digest_covers_phase_and_the_kubelets_conditions_only():
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"},
                                                 {"type": "example.com/gate", "status": "False"}]}
    assert status_digest(status) == ("Running", (("Ready", "True"),))


def test_ready_set_false_by_the_node_controller_is_posted_again():
    async def scenario():
        worker, posted = _running_worker()
        ready_before = next(c for c in posted["conditions"] if c["type"] == "Ready")
        worker.update({**worker.pod, "status": _with_ready(posted, "False")})
        assert worker.changed.is_set() and worker.last_sent is None
        ready_now = next(c for c in worker.status()["conditions"] if c["type"] == "Ready")
        assert ready_now["status"] == "True"
        assert ready_now["lastTransitionTime"] >= ready_before["lastTransitionTime"]

    asyncio.run(scenario())


def test_own_statuses_and_foreign_conditions_do_not_cause_a_post():
    async def scenario():
        worker, posted = _running_worker()
        worker.update({**worker.pod, "status": posted})  # the echo of our own post
        gated = {**posted, "conditions": posted["conditions"] + [{"type": "example.com/gate", "status": "False"}]}
        worker.update({**worker.pod, "status": gated})  # someone else's condition
        assert not worker.changed.is_set() and worker.last_sent is posted
        # a late echo of an earlier post of ours is not a foreign change either
        earlier = _with_ready(posted, "False")
        worker.sent_digests.appendleft(status_digest(earlier))
        worker.update({**worker.pod, "status": earlier})
        assert not worker.changed.is_set()
        # ... but if it is still there at the periodic check, it is posted again
        worker.check_status(periodic=True)
        assert worker.changed.is_set()

    asyncio.run(scenario())


def test_repeated_foreign_changes_are_posted_at_a_bounded_rate(monkeypatch):
    monkeypatch.setattr(pods, "RESYNC_INTERVAL", 0.2)

    async def scenario():
        worker, posted = _running_worker()
        marked = {**worker.pod, "status": _with_ready(posted, "False")}
        worker.update(marked)
        worker.last_sent, worker.changed = posted, asyncio.Event()  # as if posted again
        worker.update(marked)  # marked not ready once more at once: waits for the interval
        assert not worker.changed.is_set()
        await asyncio.wait_for(worker.changed.wait(), 5)  # ... and then posts it again

    asyncio.run(scenario())
