"""The node as a real kubelet behaves around (re)starts: containers of a just-started node get
the Service environment, and every container start gets the current one.

Each test starts a cluster of its own (lc_helpers.SideCluster), so nothing the run's cluster
holds is disturbed."""

import json

import pytest
from lc_helpers import IMAGE, SideCluster, wait_for

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
