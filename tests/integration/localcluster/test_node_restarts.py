"""The node as a real kubelet behaves around (re)starts: containers of a just-started node get
the Service environment, every container start gets the current one, and pods are posted Ready
again soon after an apiserver outage long enough for the node controller to mark them not ready.

Each test starts a cluster of its own (lc_helpers.SideCluster), so nothing the run's cluster
holds is disturbed."""

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest
from lc_helpers import IMAGE, REPO, SideCluster, wait_for

pytestmark = pytest.mark.cluster

PRINT_ENV = ('echo "kubernetes=${KUBERNETES_SERVICE_HOST:-unset}:${KUBERNETES_SERVICE_PORT:-unset}'
             ' web=${WEB_SERVICE_HOST:-unset}"; sleep 1; exit 1')


def _pod(name, command, restart="Always"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": IMAGE, "command": ["sh", "-c", command]}]}}


def _pod_obj(side, name):
    proc = side.kubectl("get", "pod", name, "-n", "default", "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def _ready(side, name):
    conditions = _pod_obj(side, name).get("status", {}).get("conditions") or []
    return {c["type"]: c["status"] for c in conditions}.get("Ready") == "True"


def test_containers_get_the_current_service_environment_from_the_first_start(tmp_path):
    side = SideCluster(tmp_path / "state", DASK_LOCALCLUSTER_BACKOFF_SECONDS="1")
    try:
        side.cluster("up")
        # created in the same second as `up` returned
        side.kubectl("apply", "-f", "-", input=json.dumps(_pod("env", PRINT_ENV)))
        kubernetes_ip = json.loads((side.state / "config.json").read_text())["kubernetes_service_ip"]

        def current_line():
            proc = side.kubectl("logs", "env", "-n", "default", check=False)
            return proc.stdout.strip() if proc.returncode == 0 else ""

        first = wait_for(current_line, "the first start's output")
        assert first == f"kubernetes={kubernetes_ip}:443 web=unset"

        side.kubectl("create", "service", "clusterip", "web", "-n", "default", "--tcp=80:8080")
        web_ip = side.kubectl("get", "service", "web", "-n", "default", "-o",
                              "jsonpath={.spec.clusterIP}").stdout
        # a later start of the same container sees the Service created meanwhile
        wait_for(lambda: current_line() == f"kubernetes={kubernetes_ip}:443 web={web_ip}",
                 "a restart with the new Service's variables", timeout=60)
        assert _pod_obj(side, "env")["status"]["containerStatuses"][0]["restartCount"] >= 1
    finally:
        side.down()


def _conditions(obj):
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions") or []}


def test_pods_are_ready_again_soon_after_a_long_apiserver_outage(tmp_path):
    """The apiserver is stopped for longer than the node controller's grace period. The node
    agent is frozen meanwhile and thawed only once the node controller, back in touch, has marked
    the node and its pods not ready: otherwise whichever reconnects first decides whether the
    pods are marked at all (a real node is often the slower one)."""
    grace = 20
    side = SideCluster(tmp_path / "state", DASK_LOCALCLUSTER_NODE_MONITOR_GRACE_SECONDS=str(grace))
    agent = None
    try:
        side.cluster("up")
        side.kubectl("apply", "-f", "-", input=json.dumps(_pod("sleeper", "sleep 3600")))
        wait_for(lambda: _ready(side, "sleeper"), "the pod to be Ready")

        agent = side.pid("agent")
        os.kill(agent, signal.SIGSTOP)
        side.cluster("stop", "kube-apiserver")
        time.sleep(grace + 5)  # longer than the node controller's grace period
        restart = subprocess.Popen([str(REPO / "ci" / "cluster"), "up"], env=side.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _conditions(_pod_obj(side, "sleeper")).get("Ready") == "False",
                     "the node controller to mark the pod not ready", timeout=60)
            node = json.loads(side.kubectl("get", "node", "-o", "json").stdout)["items"][0]
            assert _conditions(node)["Ready"] == "Unknown"
        finally:
            os.kill(agent, signal.SIGCONT)
        thawed = time.monotonic()
        _, errors = restart.communicate(timeout=120)  # `up` returns once the node is Ready
        assert restart.returncode == 0, errors
        node_back = time.monotonic() - thawed
        assert node_back < 20, f"the node was Ready again only {node_back:.0f} s after it came back"

        wait_for(lambda: _ready(side, "sleeper"), "the pod to be Ready again",
                 timeout=20 - node_back, interval=0.5)
        pod = _pod_obj(side, "sleeper")
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        if agent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent, signal.SIGCONT)
        side.down()


def test_etcd_stopped_and_started_again_keeps_the_cluster(tmp_path):
    """`stop etcd` then `up` is an etcd restart (an outage to test against), not a new cluster."""
    side = SideCluster(tmp_path / "state")
    try:
        side.cluster("up")
        side.kubectl("create", "configmap", "survivor", "-n", "default", "--from-literal=k=v")
        side.kubectl("apply", "-f", "-", input=json.dumps(_pod("sleeper", "sleep 3600")))
        wait_for(lambda: _ready(side, "sleeper"), "the pod to be Ready")
        uid = _pod_obj(side, "sleeper")["metadata"]["uid"]

        side.cluster("stop", "etcd")
        side.cluster("up")
        assert side.kubectl("get", "configmap", "survivor", "-n", "default", "-o", "jsonpath={.data.k}").stdout == "v"
        wait_for(lambda: _ready(side, "sleeper"), "the pod to be Ready after the restart")
        assert _pod_obj(side, "sleeper")["metadata"]["uid"] == uid, "the same pod, not a new cluster's"
    finally:
        side.down()
