"""How fast the operator turns DaskCluster changes into running, connected Dask processes.

Runs ``dask-operator run`` (as the testing kit starts it) against ``$KUBECONFIG`` in a fresh
namespace and measures, with wall clocks on this machine:

* create: ``kubectl apply`` of a DaskCluster -> phase Running (scheduler Ready) -> every worker
  connected to the scheduler -> a first computation done; then delete -> every pod gone;
* scale up: a worker group scaled from 1 to ``--scale-to`` workers -> all connected;
* scale down: back to 2 with 100 persisted keys -> 2 worker pods left, every key still there;
* repair: one worker pod deleted -> a replacement connected.

Prints one line per figure (median, min, max over ``--repeat`` runs). Nothing here is a test:
slow figures do not fail. Usage: ``benchmarks/run operator_latency.py`` (brings up the local
cluster), or ``python benchmarks/operator_latency.py`` with KUBECONFIG set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from dask_operator.testing import run_operator, wait_for
from distributed import Client
from kubectl import apply_crds, get, kubectl, pods

from dask_kubernetes.operator import make_cluster_spec

FIGURES: defaultdict[str, list[float]] = defaultdict(list)


def until(what: str, done: Callable[[], Any], timeout: float = 300) -> None:
    wait_for(done, timeout=timeout, interval=0.2, message=what)


def record(figure: str, start: float) -> float:
    elapsed = time.monotonic() - start
    FIGURES[figure].append(elapsed)
    return elapsed


def connect(name: str, namespace: str) -> Client:
    service = get("service", f"{name}-scheduler", namespace)
    return Client(f"tcp://{service['spec']['clusterIP']}:8786", timeout=60)


def n_workers(client: Client) -> int:
    return len(client.scheduler_info()["workers"])


def create_and_delete(namespace: str, name: str, workers: int) -> None:
    spec = make_cluster_spec(name=name, n_workers=workers)
    start = time.monotonic()
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(spec))
    until("phase Running", lambda: (get("daskcluster", name, namespace).get("status") or {}).get("phase") == "Running")
    record(f"create: apply -> phase Running ({workers} workers)", start)
    with connect(name, namespace) as client:
        until(f"{workers} workers", lambda: n_workers(client) >= workers)
        record(f"create: apply -> {workers} workers connected", start)
        assert client.submit(sum, client.map(lambda x: x + 1, range(10))).result() == 55
        record("create: apply -> first result", start)
    start = time.monotonic()
    kubectl("delete", "daskcluster", name, "-n", namespace, "--wait=false")
    until("its pods to go", lambda: not pods(namespace, f"dask.org/cluster-name={name}", terminating=True))
    record(f"delete: DaskCluster deleted -> all pods gone ({workers} workers)", start)


def scale_and_repair(namespace: str, name: str, scale_to: int) -> None:
    group = f"{name}-default"
    worker_selector = f"dask.org/workergroup-name={group}"
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(make_cluster_spec(name=name, n_workers=1)))
    until("phase Running", lambda: (get("daskcluster", name, namespace).get("status") or {}).get("phase") == "Running")
    with connect(name, namespace) as client:
        until("1 worker", lambda: n_workers(client) == 1)
        start = time.monotonic()
        kubectl("scale", "daskworkergroup", group, "-n", namespace, f"--replicas={scale_to}")
        until(f"{scale_to} workers", lambda: n_workers(client) == scale_to)
        record(f"scale up: 1 -> {scale_to} workers connected", start)

        data = client.map(lambda x: x * 2, range(100))  # held futures: the keys stay on the workers
        client.gather(data)
        start = time.monotonic()
        kubectl("scale", "daskworkergroup", group, "-n", namespace, "--replicas=2")
        until("2 worker pods", lambda: len(pods(namespace, worker_selector)) == 2 and n_workers(client) == 2)
        record(f"scale down: {scale_to} -> 2 workers with 100 persisted keys", start)
        if client.gather(data) != [x * 2 for x in range(100)]:
            raise SystemExit("scale-down lost persisted data")

        victim = pods(namespace, worker_selector)[0]["metadata"]["name"]
        start = time.monotonic()
        kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")

        def replaced() -> bool:
            names = {p["metadata"]["name"] for p in pods(namespace, worker_selector)}
            return victim not in names and len(names) == 2 and n_workers(client) == 2

        until("a replacement worker", replaced)
        record("repair: worker pod deleted -> replacement connected", start)
    kubectl("delete", "daskcluster", name, "-n", namespace, "--wait=true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the created clusters (default 2)")
    parser.add_argument("--scale-to", type=int, default=6, help="workers to scale up to (default 6)")
    args = parser.parse_args()
    # The CRDs as the chart ships them (a fresh local cluster has none).
    if apply_crds():
        print("note: the CRDs are new, so the first deletion waits until kube-controller-manager's garbage "
              "collector discovers them (its discovery resync, up to 30 s); medians of --repeat 3 or more hide it")
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    print(f"namespace {namespace}; {args.repeat} run(s) per scenario", flush=True)
    try:
        with run_operator(namespace):
            for i in range(args.repeat):
                create_and_delete(namespace, f"create-{i}", args.workers)
                scale_and_repair(namespace, f"scale-{i}", args.scale_to)
                print(f"  run {i + 1}/{args.repeat} done", flush=True)
    finally:
        subprocess.run(["kubectl", "delete", "namespace", namespace, "--wait=false"], capture_output=True)
    width = max(len(f) for f in FIGURES)
    print(f"\n{'figure':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}")
    for figure, samples in FIGURES.items():
        print(f"{figure:<{width}}  {statistics.median(samples):>8.2f}  {min(samples):>6.2f}  {max(samples):>6.2f}")


if __name__ == "__main__":
    main()
