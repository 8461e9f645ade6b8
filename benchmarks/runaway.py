"""A runaway request: a DaskCluster asking for the most workers the CRD allows, next to a canary.

Not a test: it prints figures (and JSON with ``--json FILE``). Against ``$KUBECONFIG``
(``benchmarks/run runaway.py`` brings up the local cluster), in a fresh namespace, with one
operator at its default worker caps (or ``--cap``):

1. the canary, a real DaskCluster on the process node, is scaled 0 -> 2 workers alone: its
   usual time;
2. the runaway cluster is applied with ``replicas: 10000`` (the CRD's maximum), its scheduler
   and workers on the stub node (``stubnode.py``: pods without processes);
3. while the operator creates the runaway's workers, the canary is scaled 0 -> 2 again;
4. the runaway cluster is deleted, and its pods are watched for ``--after`` seconds.

Printed: the cap, the most runaway pods ever seen (never above the cap), pods created after the
delete (none), and the canary's two times with their ratio (the goal is at most 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from dask_operator import config as operator_config
from dask_operator.testing import run_operator
from kubectl import apply_crds, items, kubectl
from stubnode import StubNode, place_on_stub_node

from dask_kubernetes.operator import make_cluster_spec

RUNAWAY_REPLICAS = 10000


def canary_scale(namespace: str, replicas: int, timeout: float = 180) -> float:
    """Seconds until the canary has ``replicas`` ready workers after ``kubectl scale``."""
    started = time.monotonic()
    kubectl("scale", "daskcluster", "canary", "-n", namespace, f"--replicas={replicas}")
    while time.monotonic() - started < timeout:
        status = json.loads(kubectl("get", "daskcluster", "canary", "-n", namespace, "-o", "json")).get("status", {})
        if status.get("workers") == {"desired": replicas, "ready": replicas}:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"the canary did not reach {replicas} ready workers in {timeout:.0f} s")


def _seconds(stamp: str | None, since: float) -> float | None:
    if not stamp:
        return None
    return round(time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone - since, 1)


def breakdown(namespace: str, since: float) -> list[dict[str, float | None]]:
    """For each canary worker: created, scheduled and ready, in seconds after ``since``."""
    found = []
    for pod in items("pods", namespace, "dask.org/cluster-name=canary,dask.org/component=worker"):
        conditions = {c["type"]: c.get("lastTransitionTime") for c in pod.get("status", {}).get("conditions") or []}
        found.append({"created": _seconds(pod["metadata"]["creationTimestamp"], since),
                      "scheduled": _seconds(conditions.get("PodScheduled"), since),
                      "ready": _seconds(conditions.get("Ready"), since)})
    return found


def runaway_pods(namespace: str) -> list[dict[str, Any]]:
    return items("pods", namespace, "dask.org/cluster-name=runaway,dask.org/component=worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=int, default=0, help="workers.max-per-group for the run (0: the default)")
    parser.add_argument("--fill", type=float, default=15, help="seconds of runaway creation before the canary scales")
    parser.add_argument("--after", type=float, default=30, help="seconds to watch for pods after the delete")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    cap = args.cap or int(operator_config.get("workers.max-per-group"))
    apply_crds()
    namespace = f"runaway-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    while subprocess.run(["kubectl", "get", "serviceaccount", "default", "-n", namespace], capture_output=True).returncode:
        time.sleep(0.2)
    env = {"DASK_KUBERNETES__CONTROLLER__WORKERS__MAX_PER_GROUP": str(cap)} if args.cap else {}
    report: dict[str, Any] = {"cap": cap, "replicas_asked": RUNAWAY_REPLICAS}
    with StubNode(os.environ["KUBECONFIG"]), run_operator(namespace, env=env) as operator:
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(make_cluster_spec(name="canary", n_workers=0)))
        canary_scale(namespace, 0)
        usual = canary_scale(namespace, 2)
        canary_scale(namespace, 0)
        print(f"canary 0 -> 2 alone: {usual:.2f} s", flush=True)

        runaway = make_cluster_spec(name="runaway", n_workers=RUNAWAY_REPLICAS)
        for part in ("scheduler", "worker"):
            runaway["spec"][part]["spec"] = place_on_stub_node(runaway["spec"][part]["spec"])
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(runaway))
        most = 0
        filled = time.monotonic() + args.fill
        while time.monotonic() < filled:
            most = max(most, len(runaway_pods(namespace)))
            time.sleep(1)
        print(f"runaway: {most} worker pods after {args.fill:.0f} s", flush=True)
        asked = time.time()
        during = canary_scale(namespace, 2)
        print(f"canary 0 -> 2 during the runaway: {during:.2f} s ({during / usual:.2f}x)", flush=True)
        report["canary_during_breakdown"] = breakdown(namespace, asked)
        print(f"  where it went (s after the scale, whole seconds): {report['canary_during_breakdown']}", flush=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # let the operator reach its cap
            count = len(runaway_pods(namespace))
            most = max(most, count)
            if count >= cap:
                break
            time.sleep(2)
        time.sleep(5)
        most = max(most, len(runaway_pods(namespace)))
        cluster = json.loads(kubectl("get", "daskcluster", "runaway", "-n", namespace, "-o", "json"))
        conditions = {c["type"]: c for c in cluster.get("status", {}).get("conditions", [])}
        kubectl("delete", "daskcluster", "runaway", "-n", namespace, "--wait=false")
        deleted_at = time.time()
        after: set[str] = set()
        stop = time.monotonic() + args.after
        while time.monotonic() < stop:
            for pod in runaway_pods(namespace):
                created = time.mktime(time.strptime(pod["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
                if created > deleted_at + 1:  # creationTimestamp has whole seconds
                    after.add(pod["metadata"]["name"])
            time.sleep(1)
        log = operator.log()
    report.update({
        "most_runaway_pods": most, "pods_created_after_delete": len(after),
        "workers_ready_condition": conditions.get("WorkersReady", {}).get("reason"),
        "canary_seconds_alone": round(usual, 2), "canary_seconds_during": round(during, 2),
        "canary_ratio": round(during / usual, 2), "operator_tracebacks": log.count("Traceback"),
    })
    subprocess.run(["kubectl", "delete", "namespace", namespace, "--wait=false"], capture_output=True)
    print("\n| figure | value |\n|---|---|")
    for key, value in report.items():
        print(f"| {key} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if most <= cap and not after else 1


if __name__ == "__main__":
    raise SystemExit(main())
