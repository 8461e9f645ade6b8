"""The second half of ci/demo: chart, DaskCluster, computation (KUBECONFIG and PATH already set).

`python ci/demo.py check-stopped` (run by ci/test) fails, saying what to do, when the cluster the
tests would use runs an operator installed outside the tests, such as the demo's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELEASE, RELEASE_NS = "dask-kubernetes-operator", "dask-operator"
# The end-to-end tests' own releases (tests/e2e/chart_release.py), one per test run.
TEST_RELEASE_PREFIX = "dask-kubernetes-operator-e2e-"
DEMO_NS, CLUSTER = "dask-demo", "simple"


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def sh(*cmd: str, check: bool = True) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def wait(what: str, done: object, timeout: float) -> None:
    """Poll `done()` once a second, printing how long we have waited, until it is true."""
    start = time.monotonic()
    while True:
        waited = time.monotonic() - start
        if done():  # type: ignore[operator]
            print(f"\r    {what}: done after {waited:.0f}s" + " " * 10, flush=True)
            return
        if waited > timeout:
            print()
            sys.exit(f"gave up waiting for {what} after {timeout:.0f}s; see `kubectl describe` and "
                     f"`kubectl logs -n {RELEASE_NS} deploy/{RELEASE}`")
        print(f"\r    waiting for {what}... {waited:.0f}s", end="", flush=True)
        time.sleep(1)


def has_condition(obj_json: str, kind: str) -> bool:
    conditions = json.loads(obj_json).get("status", {}).get("conditions") or [] if obj_json else []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def crds_established() -> bool:
    # Polled, not `kubectl wait`: that errors out on a CRD whose status has no conditions yet.
    plurals = ("daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers")
    return all(has_condition(sh("kubectl", "get", "crd", f"{p}.kubernetes.dask.org", "-o", "json", check=False),
                             "Established") for p in plurals)


def cluster_ready() -> bool:
    return has_condition(sh("kubectl", "get", "daskcluster", CLUSTER, "-n", DEMO_NS, "-o", "json", check=False),
                         "Ready")


def claim_cluster() -> None:
    """The demo's cluster keeps running: if a test run had started it (and kept it, with
    DASK_LOCALCLUSTER_KEEP=1), no later test run may stop it now."""
    sys.path.insert(0, str(ROOT / "ci"))
    from localcluster.config import state_dir
    from localcluster.controlplane import TESTS_MARKER

    (state_dir() / TESTS_MARKER).unlink(missing_ok=True)


def main() -> None:
    claim_cluster()
    say("Installing the operator from chart/ with helm")
    sh("kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "chart" / "crds"))
    wait("the Dask CRDs to be established", crds_established, 60)
    print(sh("helm", "upgrade", "--install", RELEASE, str(ROOT / "chart"), "--namespace", RELEASE_NS,
             "--create-namespace", "--skip-crds", "--wait", "--timeout=240s").rstrip())
    print(sh("kubectl", "get", "pods", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator").rstrip())

    say(f"Creating DaskCluster {CLUSTER!r} from examples/cluster.yaml in namespace {DEMO_NS!r}")
    if sh("kubectl", "get", "namespace", DEMO_NS, check=False) == "":
        sh("kubectl", "create", "namespace", DEMO_NS)
    print(sh("kubectl", "apply", "-n", DEMO_NS, "-f", str(ROOT / "examples" / "cluster.yaml")).rstrip())
    wait(f"daskcluster/{CLUSTER} to be Ready", cluster_ready, 300)
    print(sh("kubectl", "get", "daskclusters,daskworkergroups,pods,svc", "-n", DEMO_NS).rstrip())

    say("Running a Dask computation through the cluster (KubeCluster.from_name)")
    from dask.distributed import Client

    from dask_kubernetes.operator import KubeCluster

    cluster = KubeCluster.from_name(CLUSTER, namespace=DEMO_NS)
    with Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        futures = client.map(lambda x: x + 1, range(10))
        total = client.submit(sum, futures).result()
        workers = len(client.scheduler_info()["workers"])
        print(f"    sum(x + 1 for x in range(10)) = {total}, computed on {workers} Dask workers")
        assert total == 55, total
        dashboard = cluster.dashboard_link
    cluster.close()

    say("Done. The cluster keeps running.")
    print(f"""    Result:     {total}
    Dashboard:  {dashboard}  (reachable from this machine)
    kubectl:    export KUBECONFIG={os.environ['KUBECONFIG']}
                kubectl get daskclusters -A
    Python:     KubeCluster.from_name("{CLUSTER}", namespace="{DEMO_NS}")
    Clean up:   kubectl delete -n {DEMO_NS} -f examples/cluster.yaml
                helm uninstall -n {RELEASE_NS} {RELEASE}
                ci/cluster down""")


def tests_kubeconfig() -> str | None:
    """The kubeconfig of the cluster the tests would use (tests/conftest.py): $KUBECONFIG,
    else the local cluster of this checkout and instance, if it was ever started."""
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    sys.path.insert(0, str(ROOT / "ci"))
    from localcluster.config import state_dir

    local = state_dir() / "admin.kubeconfig"
    return str(local) if local.exists() else None


def operators_outside_tests(kubeconfig: str) -> list[str]:
    """namespace/name of every operator Deployment from the chart that no test run installed;
    none when the cluster does not answer (the tests then start their own)."""
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--request-timeout=5s", "get",
                           "deployments", "--all-namespaces", "-o", "json",
                           "-l", "app.kubernetes.io/name=dask-kubernetes-operator"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    found = []
    for deployment in json.loads(proc.stdout).get("items", []):
        meta = deployment["metadata"]
        instance = (meta.get("labels") or {}).get("app.kubernetes.io/instance", "")
        if not instance.startswith(TEST_RELEASE_PREFIX):
            found.append(f"{meta['namespace']}/{meta['name']}")
    return found


def check_stopped() -> int:
    kubeconfig = tests_kubeconfig()
    running = operators_outside_tests(kubeconfig) if kubeconfig else []
    if not running:
        return 0
    print(f"""ci/test: the cluster the tests would use ({kubeconfig}) runs a Dask operator
that the tests did not install: {', '.join(running)} (ci/demo installs
{RELEASE_NS}/{RELEASE}). It watches every namespace, so it would reconcile the tests'
DaskClusters alongside the tests' own operators. Stop it before running the tests:
    ci/cluster down          # the demo's whole cluster; the tests start their own and stop it
or, to keep the cluster:
    helm uninstall -n {RELEASE_NS} {RELEASE}""", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:] == ["check-stopped"]:
        sys.exit(check_stopped())
    main()
