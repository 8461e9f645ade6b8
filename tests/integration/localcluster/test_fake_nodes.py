"""`ci/cluster up --fake-nodes N`: kwok's simulated nodes next to the process node.

Runs a cluster of its own (lc_helpers.SideCluster) so `down` can be checked without
disturbing the cluster the rest of the run uses.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lc_helpers import REPO, SideCluster, process_command_lines, side_instance, wait_for

sys.path.insert(0, str(REPO / "ci"))
from localcluster import kwok  # noqa: E402

pytestmark = pytest.mark.cluster


def _kwok_processes(state: Path) -> list[str]:
    return [f"{pid}: {cmdline[:160]}" for pid, cmdline in process_command_lines().items()
            if "kwok" in cmdline.split(" ", 1)[0] and str(state) in cmdline]


def _routes() -> str:
    return subprocess.run(["ip", "route"], capture_output=True, text=True).stdout


def test_pods_on_fake_nodes_run_without_processes_and_down_removes_kwok(tmp_path):
    state = tmp_path / "state"
    side = SideCluster(state)
    cidr = kwok.pod_cidr(side_instance())
    try:
        up = side.cluster("up", "--fake-nodes", "2")
        assert "2 fake node(s) Ready" in up.stderr
        nodes = json.loads(side.kubectl("get", "nodes", "-l", "type=kwok", "-o", "json").stdout)["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == ["kwok-node-0", "kwok-node-1"]
        assert all(n["spec"]["taints"][0]["key"] == "kwok.x-k8s.io/node" for n in nodes)
        local = json.loads(side.kubectl("get", "node", "local-node", "-o", "json").stdout)
        assert not local["spec"].get("taints"), "the process node stays as it is"

        pod = {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "simulated"},
            "spec": kwok.place_on_fake_nodes({"containers": [{"name": "c", "image": "nothing:runs", "command": ["false"]}]}),
        }
        side.kubectl("apply", "-f", "-", input=json.dumps(pod))

        def running() -> dict | None:
            got = json.loads(side.kubectl("get", "pod", "simulated", "-o", "json").stdout)
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in got["status"].get("conditions") or [])
            return got if got["status"].get("phase") == "Running" and ready else None

        got = wait_for(running, "the pod on a fake node to be Running and Ready")
        assert got["spec"]["nodeName"].startswith("kwok-node-")
        assert got["status"]["podIP"].startswith(cidr.rsplit(".", 2)[0] + ".")
        assert f"unreachable {cidr}" in _routes(), "nothing answers on fake pods' addresses: fail at once"

        side.kubectl("delete", "pod", "simulated", "--wait=false")
        wait_for(lambda: side.kubectl("get", "pod", "simulated", check=False).returncode != 0,
                 "the deleted pod to be removed by kwok")

        assert _kwok_processes(state), "kwok should run before `down`"
    finally:
        side.down()
    assert not _kwok_processes(state), "`down` stops kwok"
    assert not (state / "run" / "kwok.pid").exists()
    assert f"unreachable {cidr}" not in _routes(), "`down` removes the route to fake pods"
