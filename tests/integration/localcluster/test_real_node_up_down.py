"""`ci/cluster down` of a real node leaves nothing on the host: no process, mount, cgroup,
network namespace, link or route, and the sysctls the kubelet changed are back.

Starts a second cluster with a real node (lc_helpers.side_instance()) so the run's cluster is
not disturbed. Runs only in the real-node tier.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lc_helpers import IMAGE, REPO, SideCluster, process_command_lines, side_instance, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]

sys.path.insert(0, str(REPO / "ci"))
from localcluster import realnode_config  # noqa: E402


def _sysctls() -> dict[str, str]:
    return {k: subprocess.run(["sysctl", "-n", k], capture_output=True, text=True).stdout.strip()
            for k in realnode_config.KUBELET_SYSCTLS}


def _leftovers(state: Path, instance: int) -> list[str]:
    lay = realnode_config.Layout(instance, state / "realnode")
    needles = (str(state) + "/", str(lay.run), str(lay.lib))
    found = [f"process {pid}: {cmd[:120]}" for pid, cmd in process_command_lines().items()
             if any(n in cmd for n in needles)]
    if lay.netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        found.append(f"netns {lay.netns}")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {lay.host_veth}" for line in links.splitlines() if f" {lay.host_veth}@" in line]
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    found += [f"route {line}" for line in routes.splitlines() if lay.pod_cidr in line or lay.node_ip in line]
    found += [f"cgroup {d}" for d in Path("/sys/fs/cgroup").glob(f"*/{lay.cgroup}")]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if any(n in line.split()[4] for n in needles)]
    found += [f"dir {d}" for d in (lay.run, lay.lib) if d.exists()]
    return found


def test_up_real_node_then_down_leaves_nothing(tmp_path):
    instance = side_instance()
    state = tmp_path / "state"
    before = _sysctls()
    side = SideCluster(state, DASK_LOCALCLUSTER_NODE="real")
    try:
        side.cluster("up")
        side.kubectl("run", "sleeper", f"--image={IMAGE}", "--command", "--", "sleep", "600")

        def running() -> bool:
            pod = json.loads(side.kubectl("get", "pod", "sleeper", "-o", "json").stdout)
            return pod["status"].get("phase") == "Running"
        wait_for(running, "a pod on the second real node to run", 120)
        assert _leftovers(state, instance), "the real node should be visible before `down`"
    finally:
        side.down()
    assert _leftovers(state, instance) == []
    assert _sysctls() == before
