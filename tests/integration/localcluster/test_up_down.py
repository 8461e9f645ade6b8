"""`ci/cluster up` is idempotent and `down` leaves nothing behind.

Runs a second, independent cluster (lc_helpers.side_instance(): instance 1, or 2 if the run uses 1;
its own bridge, address ranges, ports and state directory) so the cluster the rest of the run
uses is not disturbed.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from lc_helpers import IMAGE, process_command_lines, side_instance, wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
INSTANCE = side_instance()


def _cluster(env, *args):
    return subprocess.run([str(REPO / "ci" / "cluster"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _leftovers(state: Path) -> list[str]:
    needle = str(state)
    found = [f"process {pid}: {cmdline[:120]}" for pid, cmdline in process_command_lines().items()
             if needle + "/" in cmdline or cmdline.rstrip().endswith(needle)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if line.split(":")[1].strip().startswith((f"dkbr{INSTANCE}", f"dk{INSTANCE}v"))]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {n}" for n in netns.split() if n.startswith(f"dk{INSTANCE}pod-")]
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    found += [f"address {line.split()[3]}" for line in addrs.splitlines()
              if line.split()[3].startswith((f"10.0.{INSTANCE}.", f"10.{244 + INSTANCE}."))]
    mounts = Path("/proc/mounts").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if f"dk{INSTANCE}pod-" in line or needle in line]
    if Path("/etc/netns").exists():
        found += [f"hosts dir {d}" for d in Path("/etc/netns").glob(f"dk{INSTANCE}pod-*")]
    return found


def test_up_is_idempotent_and_down_leaves_nothing(k8s, tmp_path):
    state = tmp_path / "state"
    env = dict(os.environ, DASK_LOCALCLUSTER_INSTANCE=str(INSTANCE), DASK_LOCALCLUSTER_STATE=str(state))
    env.pop("KUBECONFIG", None)
    try:
        first = _cluster(env, "up")
        assert first.returncode == 0, first.stderr
        kubeconfig = str(state / "admin.kubeconfig")
        assert first.stdout.strip().splitlines()[-1] == f"export KUBECONFIG={kubeconfig}"
        again = _cluster(env, "up")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stderr

        kubectl = [str(Path(k8s.bin_dir) / "kubectl"), "--kubeconfig", kubeconfig]
        subprocess.run([*kubectl, "run", "sleeper", f"--image={IMAGE}", "--command", "--", "sleep", "600"],
                       check=True, capture_output=True)
        subprocess.run([*kubectl, "expose", "pod", "sleeper", "--port=80", "--target-port=8080"],
                       check=True, capture_output=True)

        def running():
            out = subprocess.run([*kubectl, "get", "pod", "sleeper", "-o", "json"], capture_output=True, text=True)
            return out.returncode == 0 and json.loads(out.stdout)["status"].get("phase") == "Running"
        wait_for(running, "the pod on the second cluster to run")
        assert _leftovers(state), "the second cluster should be visible before `down`"
        status = _cluster(env, "status")
        assert status.returncode == 0 and "Ready=True" in status.stdout
    finally:
        down = _cluster(env, "down")
    assert down.returncode == 0, down.stderr
    assert _leftovers(state) == []
    assert _cluster(env, "status").returncode != 0
    # The cluster every other test uses is untouched.
    assert k8s.kubectl("get", "--raw", "/readyz").stdout == "ok"
