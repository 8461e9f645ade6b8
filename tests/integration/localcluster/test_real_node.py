"""The real node (`ci/cluster up --node real`): the kubelet + containerd run the images
ci/build-images.sh built, pulled through the local registry; logs, exec and port-forward go
through the real kubelet; Services through kube-proxy (nftables) and names through CoreDNS.

Runs only in the real-node tier (DASK_LOCALCLUSTER_NODE=real, see tests/conftest.py).
"""

import json
import subprocess
from pathlib import Path

import pytest
from lc_helpers import IMAGE, apply, free_port, http_answer, wait_for, wait_phase

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]

SERVER = ("import http.server\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        self.send_response(200); self.send_header('Content-Length', '4')\n"
          "        self.end_headers(); self.wfile.write(b'pong')\n"
          "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()")


def _server_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{
                "name": "main", "image": IMAGE, "imagePullPolicy": "Always",
                "command": ["python", "-c", f"print('serving', flush=True)\n{SERVER}"],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}


def test_node_is_ready_with_containerd(k8s, kubectl):
    node = json.loads(kubectl("get", "node", k8s.local_config["node_name"], "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    wide = kubectl("get", "node", "-o", "wide").stdout
    assert "containerd://" in wide


def test_dask_image_pulled_always_runs_with_logs_exec_and_port_forward(k8s, kubectl, namespace):
    apply(kubectl, namespace, _server_pod("pong"))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/pong", "--timeout=120s", timeout=150)
    pod = json.loads(kubectl("get", "-n", namespace, "pod", "pong", "-o", "json").stdout)
    assert pod["status"]["containerStatuses"][0]["imageID"], "containerd reports the pulled image"

    assert "serving" in kubectl("logs", "-n", namespace, "pong").stdout
    version = kubectl("exec", "-n", namespace, "pong", "--", "python", "-c",
                      "import distributed; print(distributed.__version__)").stdout.strip()
    import distributed
    assert version == distributed.__version__

    port = free_port()
    forward = subprocess.Popen([str(Path(k8s.bin_dir) / "kubectl"), "port-forward", "-n", namespace,
                                "pod/pong", f"{port}:8080", "--address=127.0.0.1"],
                               env=k8s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: http_answer(port), "the forwarded port", 30) == b"pong"
    finally:
        forward.terminate()
        forward.wait(10)


def test_cluster_ip_service_by_dns_name_from_another_pod(kubectl, namespace):
    apply(kubectl, namespace, _server_pod("pong"))
    kubectl("expose", "-n", namespace, "pod", "pong", "--port=80", "--target-port=8080")
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/pong", "--timeout=120s", timeout=150)
    url = f"http://pong.{namespace}.svc.cluster.local/"
    client = ("import time, urllib.request\n"
              "for _ in range(60):\n"
              "    try:\n"
              f"        print(urllib.request.urlopen({url!r}, timeout=3).read().decode()); break\n"
              "    except OSError as err:\n"
              "        print('retry', err, flush=True); time.sleep(1)\n"
              "else:\n"
              "    raise SystemExit(1)\n")
    apply(kubectl, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                               "spec": {"restartPolicy": "Never", "containers": [{
                                   "name": "main", "image": IMAGE, "command": ["python", "-c", client]}]}})
    phase = wait_phase(kubectl, namespace, "client", {"Succeeded", "Failed"}, timeout=150)
    logs = kubectl("logs", "-n", namespace, "client").stdout
    assert phase == "Succeeded", logs
    assert logs.strip().splitlines()[-1] == "pong"


def test_memory_limit_is_enforced(kubectl, namespace):
    hog = "x = bytearray(1 << 30)\nprint('allocated', flush=True)"
    apply(kubectl, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hog"},
                               "spec": {"restartPolicy": "Never", "containers": [{
                                   "name": "main", "image": IMAGE, "command": ["python", "-c", hog],
                                   "resources": {"limits": {"memory": "256Mi"}}}]}})
    assert wait_phase(kubectl, namespace, "hog", {"Succeeded", "Failed"}, timeout=150) == "Failed"
    pod = json.loads(kubectl("get", "-n", namespace, "pod", "hog", "-o", "json").stdout)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"


def test_oom_killed_worker_is_replaced_and_the_operator_says_why(operator, kube, wait, examples):
    """A worker over its memory limit is OOMKilled by the kernel (the limit is real here); the
    operator replaces the crash-looping pod and names OOMKilled in its Warning Event."""
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__WORKERS__REPLACE_AFTER_RESTARTS="1")
    cluster = examples("cluster.yaml")
    cluster["metadata"]["name"] = "hungry"
    cluster["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = "hungry"
    cluster["spec"]["worker"]["replicas"] = 1
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    worker["args"] = ["python", "-c", "x = bytearray(1 << 30)"]
    worker["resources"] = {"limits": {"memory": "256Mi"}}
    kube.kubectl("apply", "-f", "-", input=json.dumps(cluster))
    selector = "dask.org/cluster-name=hungry,dask.org/component=worker"
    first = wait(lambda: kube.pods(selector), message="a worker pod", timeout=120)[0]["metadata"]["name"]

    def oom_event():
        return [e for e in kube.events("ReplacedCrashLoopingWorkers")
                if e["involvedObject"]["name"] == "hungry-default" and "OOMKilled" in e["message"]]
    event = wait(oom_event, message="an Event naming OOMKilled", timeout=180)[0]
    assert event["type"] == "Warning" and first in event["message"]
    wait(lambda: first not in {p["metadata"]["name"] for p in kube.pods(selector, include_terminating=True)},
         message="the OOMKilled pod replaced", timeout=120)
