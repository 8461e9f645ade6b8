"""Chaos: kill the operator at random points of real lifecycles and check that it converges.

Not a test and not timed: it prints what converged out of what was tried (and JSON with
``--json FILE``). Against ``$KUBECONFIG`` (``benchmarks/run chaos.py`` brings up the local
cluster), in a fresh namespace, with real schedulers and workers:

* **kill points** (``--kills``, 50 by default): one step of a lifecycle (create a DaskCluster,
  scale it, add or remove a worker group, delete the cluster, run a DaskJob) is applied, the
  operator is SIGKILLed a random time later (0 to ``--max-delay`` s) and started again; the step
  then has ``--converge`` seconds (60) to reach its state: the right number of ready workers, as
  many distinct worker names on the scheduler, no object without its owner, nothing left of a
  deleted cluster, a job Successful and cleaned up;
* **control plane** (``--restarts``, 2 of each): the API server or etcd is stopped during a
  scale-up for a few seconds (``ci/cluster stop``), then started again (``ci/cluster up``);
* **leader** : two operators with leader election (default Lease settings unless
  ``--lease-duration``); the leader is SIGKILLed during a 2 -> 5 scale-up and the time until the
  standby has 5 ready workers is printed.

``--seed`` makes the kill times repeatable.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dask_operator.testing import OperatorProcess, run_operator
from kubectl import ROOT, apply_crds, get, items, kubectl

CLUSTER = "chaos"
GROUP = "chaos-extra"
JOB = "chaos-job"
WORKERS = f"dask.org/cluster-name={CLUSTER},dask.org/component=worker"
MANAGED = "app.kubernetes.io/managed-by=dask-operator"


@dataclass
class Trial:
    """One kill point (or one control-plane restart) and what came of it."""

    step: str
    delay: float  # seconds between the step and the fault
    converged: bool = False
    seconds: float | None = None  # from the operator's restart to convergence
    problems: list[str] = field(default_factory=list)


# --- the manifests ------------------------------------------------------------------------------


def example(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    obj["metadata"].pop("namespace", None)
    return obj


def cluster_manifest(replicas: int) -> dict[str, Any]:
    obj = example("cluster.yaml")
    obj["metadata"]["name"] = CLUSTER
    obj["spec"]["scheduler"]["service"]["type"] = "ClusterIP"
    obj["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = CLUSTER
    obj["spec"]["worker"]["replicas"] = replicas
    return obj


def group_manifest() -> dict[str, Any]:
    obj = example("highmemworkers.yaml")
    obj["metadata"]["name"] = GROUP
    obj["spec"]["cluster"] = CLUSTER
    obj["spec"]["worker"]["replicas"] = 1
    del obj["spec"]["worker"]["spec"]["containers"][0]["resources"]
    obj["spec"]["worker"]["spec"]["containers"][0]["args"] = ["dask-worker", "--name", "$(DASK_WORKER_NAME)"]
    return obj


def job_manifest() -> dict[str, Any]:
    obj = example("job.yaml")
    obj["metadata"]["name"] = JOB
    obj["spec"]["cluster"]["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = JOB
    obj["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    runner = obj["spec"]["job"]["spec"]["containers"][0]
    runner["args"] = ["python", "-c", "from dask.distributed import Client; c = Client(); assert c.submit(sum, [1, 2]).result() == 3"]
    return obj


def apply(namespace: str, obj: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def run(*args: str) -> None:
    kubectl(*args)


# --- what converged means ---------------------------------------------------------------------------


def active(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]


def ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or [])


def orphans(objects: list[dict[str, Any]], uids: set[str]) -> list[str]:
    """Managed objects whose controlling owner no longer exists (pure)."""
    found = []
    for obj in objects:
        owners = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
        if obj["metadata"].get("deletionTimestamp"):
            continue
        if not owners or owners[0]["uid"] not in uids:
            found.append(f"{obj['kind']} {obj['metadata']['name']}")
    return found


def scheduler_worker_names(namespace: str) -> list[str] | None:
    """The names of the workers the scheduler knows (through its Service's ClusterIP), or None."""
    service = get("service", f"{CLUSTER}-scheduler", namespace)
    address = service.get("spec", {}).get("clusterIP")
    if not address:
        return None
    script = (
        "import json, sys\n"
        "from distributed import Client\n"
        f"with Client('tcp://{address}:8786', timeout=10) as c:\n"
        "    print(json.dumps([w.get('name') for w in c.scheduler_info(n_workers=-1)['workers'].values()]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


class State:
    """What the namespace holds, read once per check."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.objects = items("daskclusters,daskworkergroups,daskjobs,deployments,replicasets,services,pods", namespace)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def pods(self, selector: dict[str, str]) -> list[dict[str, Any]]:
        return [p for p in self.of("Pod") if all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]

    def problems(self) -> list[str]:
        uids = {o["metadata"]["uid"] for o in self.objects}
        managed = [o for o in self.objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "dask-operator"
                   or o["kind"] == "ReplicaSet"]
        found = [f"orphan {name}" for name in orphans(managed + self.of("DaskWorkerGroup"), uids)]
        names = [p["metadata"]["name"] for p in self.of("Pod")]
        found += [f"duplicate pod {n}" for n in sorted({n for n in names if names.count(n) > 1})]
        return found


def workers_converged(state: State, default: int, extra: int) -> list[str]:
    """What still differs from a Running cluster with ``default`` + ``extra`` ready workers."""
    missing = []
    cluster = next((c for c in state.of("DaskCluster") if c["metadata"]["name"] == CLUSTER), None)
    if cluster is None or cluster.get("status", {}).get("phase") != "Running":
        missing.append("cluster not Running")
    for group, want in ((f"{CLUSTER}-default", default), (GROUP, extra)):
        pods = active(state.pods({"dask.org/workergroup-name": group}))
        if len(pods) != want or not all(ready(p) for p in pods):
            missing.append(f"{group}: {sum(ready(p) for p in pods)}/{len(pods)} ready pods, want {want}")
    return missing + state.problems()


def gone(state: State, cluster: str) -> list[str]:
    left = [f"{o['kind']} {o['metadata']['name']}" for o in state.objects
            if o["metadata"]["name"] == cluster or o["metadata"].get("labels", {}).get("dask.org/cluster-name") == cluster]
    return left + state.problems()


def job_done(state: State) -> list[str]:
    job = next((j for j in state.of("DaskJob") if j["metadata"]["name"] == JOB), None)
    status = (job or {}).get("status", {}).get("jobStatus")
    missing = [] if status == "Successful" else [f"job {status}"]
    if any(c["metadata"]["name"] == JOB for c in state.of("DaskCluster")):
        missing.append("the job's cluster still exists")
    return missing + state.problems()


# --- the lifecycle steps -------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    act: Callable[[str], None]
    check: Callable[[State], list[str]]  # empty when converged
    scheduler_workers: int | None = None  # worker names the scheduler must know once converged


class Lifecycle:
    """Steps that follow each other: a create, scales, a worker group, a delete, a job."""

    def __init__(self, namespace: str, rng: random.Random) -> None:
        self.namespace = namespace
        self.rng = rng
        self.default = 0
        self.extra = 0
        self.exists = False

    def _set(self, default: int | None = None, extra: int | None = None) -> Callable[[State], list[str]]:
        self.default = self.default if default is None else default
        self.extra = self.extra if extra is None else extra
        want_default, want_extra = self.default, self.extra
        return lambda state: workers_converged(state, want_default, want_extra)

    def next_step(self, index: int) -> Step:
        ns = self.namespace
        kind = ["create", "scale", "scale", "add-group", "scale", "remove-group", "delete", "job"][index % 8]
        if kind == "create" or (not self.exists and kind not in ("job", "delete")):
            n = self.rng.randint(1, 3)
            self.exists = True
            check = self._set(n, 0)
            return Step(f"create with {n} workers", lambda _: apply(ns, cluster_manifest(n)), check, n)
        if kind == "scale":
            n = self.rng.choice([x for x in range(0, 5) if x != self.default])
            check = self._set(n)
            return Step(f"scale to {n}", lambda _: run("scale", "daskcluster", CLUSTER, "-n", ns, f"--replicas={n}"), check, n + self.extra)
        if kind == "add-group":
            check = self._set(extra=1)
            return Step("add a worker group", lambda _: apply(ns, group_manifest()), check, self.default + 1)
        if kind == "remove-group":
            check = self._set(extra=0)
            return Step("delete the worker group", lambda _: run("delete", "daskworkergroup", GROUP, "-n", ns, "--wait=false"),
                        check, self.default)
        if kind == "delete":
            self.exists, self.default, self.extra = False, 0, 0
            return Step("delete the cluster", lambda _: run("delete", "daskcluster", CLUSTER, "-n", ns, "--wait=false"),
                        lambda state: gone(state, CLUSTER))

        def run_job(_: str) -> None:
            subprocess.run(["kubectl", "delete", "daskjob", JOB, "-n", ns, "--wait=true", "--ignore-not-found"], capture_output=True)
            apply(ns, job_manifest())

        return Step("run a DaskJob", run_job, job_done)


# --- the operator -------------------------------------------------------------------------------------


class Operators:
    def __init__(self, namespace: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.namespace, self.log_dir, self.env = namespace, log_dir, env or {}
        self.process: OperatorProcess | None = None

    def start(self) -> OperatorProcess:
        self.process = run_operator(self.namespace, log_dir=self.log_dir, env=self.env)
        return self.process

    def kill(self) -> None:
        assert self.process is not None and self.process.proc is not None
        self.process.proc.kill()
        self.process.proc.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.running:
            self.process.stop()


def converge(step: Step, namespace: str, timeout: float) -> tuple[bool, float, list[str]]:
    started = time.monotonic()
    missing: list[str] = ["not checked"]
    while time.monotonic() - started < timeout:
        try:
            missing = step.check(State(namespace))
        except SystemExit as exc:  # the API server may still be coming back: look again
            missing = [f"cannot read the namespace: {str(exc)[:200]}"]
            time.sleep(1)
            continue
        if not missing and step.scheduler_workers:
            names = scheduler_worker_names(namespace)
            if names is None or len(names) != step.scheduler_workers or len(set(names)) != len(names):
                missing = [f"scheduler knows workers {names}, want {step.scheduler_workers} distinct"]
        if not missing:
            return True, time.monotonic() - started, []
        time.sleep(1)
    return False, time.monotonic() - started, missing


def kill_points(namespace: str, operators: Operators, args: argparse.Namespace, rng: random.Random) -> list[Trial]:
    lifecycle = Lifecycle(namespace, rng)
    trials = []
    for index in range(args.kills):
        step = lifecycle.next_step(index)
        delay = round(rng.uniform(0, args.max_delay), 2)
        step.act(namespace)
        time.sleep(delay)
        operators.kill()
        operators.start()
        ok, seconds, missing = converge(step, namespace, args.converge)
        trials.append(Trial(step.name, delay, ok, round(seconds, 1), missing))
        print(f"  [{index + 1:>2}/{args.kills}] {step.name:<28} kill after {delay:4.2f} s: "
              + (f"converged in {seconds:5.1f} s" if ok else f"NOT converged: {'; '.join(missing)[:300]}"), flush=True)
    return trials


def _workers_check(default: int) -> Callable[[State], list[str]]:
    return lambda state: workers_converged(state, default, 0)


def control_plane(namespace: str, operators: Operators, args: argparse.Namespace, rng: random.Random) -> list[Trial]:
    trials = []
    apply(namespace, cluster_manifest(1))
    converge(Step("", lambda _: None, lambda s: workers_converged(s, 1, 0)), namespace, args.converge)
    target = 1
    for component in ["kube-apiserver", "etcd"] * args.restarts:
        target = 4 if target != 4 else 1
        want = target
        step = Step(f"{component} restart, scale to {want}", lambda _: None, _workers_check(want), want)
        kubectl("scale", "daskcluster", CLUSTER, "-n", namespace, f"--replicas={want}")
        delay = round(rng.uniform(0, args.max_delay), 2)
        time.sleep(delay)
        subprocess.run([str(ROOT / "ci" / "cluster"), "stop", component], check=True, capture_output=True)
        time.sleep(args.outage)
        subprocess.run([str(ROOT / "ci" / "cluster"), "up"], check=True, capture_output=True)
        ok, seconds, missing = converge(step, namespace, args.converge)
        trials.append(Trial(step.name, delay, ok, round(seconds, 1), missing))
        print(f"  {step.name:<40} after {delay:4.2f} s, down {args.outage:.0f} s: "
              + (f"converged {seconds:5.1f} s after it came back" if ok else f"NOT converged: {'; '.join(missing)[:300]}"), flush=True)
        alive = operators.process is not None and operators.process.running
        if not alive:
            trials[-1].problems.append("the operator exited")
    return trials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leader_kill(namespace: str, log_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__ENABLED": "true",
        "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_NAMESPACE": namespace,
        # one worker pod a second, so that the leader dies in the middle of the scale-up
        "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE": "1",
        "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY": "1",
    }
    if args.lease_duration:
        env["DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_DURATION"] = str(args.lease_duration)
    first = run_operator(namespace, log_dir=log_dir, env={**env, "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(_free_port())})
    deadline = time.monotonic() + 60
    while "is the leader now" not in first.log() and time.monotonic() < deadline:
        time.sleep(0.3)
    second = run_operator(namespace, log_dir=log_dir, env={**env, "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(_free_port())})
    result: dict[str, Any] = {"finished": False}
    try:
        apply(namespace, cluster_manifest(2))
        ok, _, missing = converge(Step("", lambda _: None, lambda s: workers_converged(s, 2, 0)), namespace, 120)
        if not ok:
            result["problems"] = missing
            return result
        kubectl("scale", "daskcluster", CLUSTER, "-n", namespace, "--replicas=5")
        while len(active(State(namespace).pods({"dask.org/workergroup-name": f"{CLUSTER}-default"}))) < 3:
            time.sleep(0.2)
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait(10)
        killed = time.monotonic()
        before = len(active(State(namespace).pods({"dask.org/workergroup-name": f"{CLUSTER}-default"})))
        ok, seconds, missing = converge(Step("", lambda _: None, lambda s: workers_converged(s, 5, 0), 5), namespace, 120)
        result = {"finished": ok, "workers_at_kill": before, "seconds_to_5_ready_workers": round(time.monotonic() - killed, 1),
                  "standby_took_over": "is the leader now" in second.log(), "problems": missing,
                  "lease_duration": args.lease_duration or "default"}
        print(f"  leader killed with {before}/5 workers; the standby had 5 ready workers {result['seconds_to_5_ready_workers']} s later"
              if ok else f"  NOT finished: {missing}", flush=True)
        return result
    finally:
        for process in (first, second):
            if process.running:
                process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--restarts", type=int, default=2, help="API server and etcd restarts, of each")
    parser.add_argument("--max-delay", type=float, default=3.0, help="latest kill, in seconds after the step")
    parser.add_argument("--converge", type=float, default=60.0, help="seconds a step has to converge")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the API server or etcd stays down")
    parser.add_argument("--lease-duration", type=float, default=0, help="Lease duration for the leader part (0: default)")
    parser.add_argument("--skip", default="", help="parts to skip: kills,control-plane,leader")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rng = random.Random(seed)
    skip = set(filter(None, args.skip.split(",")))
    apply_crds()
    log_dir = Path(subprocess.run(["mktemp", "-d", "/tmp/dask-chaos-XXXX"], capture_output=True, text=True).stdout.strip())
    print(f"seed {seed}; operator logs in {log_dir}", flush=True)
    report: dict[str, Any] = {"seed": seed}

    def namespace() -> str:
        name = f"chaos-{uuid.uuid4().hex[:6]}"
        kubectl("create", "namespace", name)
        while subprocess.run(["kubectl", "get", "serviceaccount", "default", "-n", name], capture_output=True).returncode:
            time.sleep(0.2)
        return name

    for part, run in (("kills", kill_points), ("control-plane", control_plane)):
        if part in skip:
            continue
        ns = namespace()
        operators = Operators(ns, log_dir)
        operators.start()
        print(f"\n== {part} (namespace {ns})", flush=True)
        try:
            trials = run(ns, operators, args, rng)
        finally:
            operators.stop()
            subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], capture_output=True)
        report[part] = {"tried": len(trials), "converged": sum(t.converged for t in trials),
                        "max_seconds": max((t.seconds or 0 for t in trials if t.converged), default=None),
                        "trials": [asdict(t) for t in trials]}
    if "leader" not in skip:
        ns = namespace()
        print(f"\n== leader (namespace {ns})", flush=True)
        try:
            report["leader"] = leader_kill(ns, log_dir, args)
        finally:
            subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], capture_output=True)

    print("\n| part | converged / tried | slowest (s) |\n|---|---|---|")
    for part in ("kills", "control-plane"):
        if part in report:
            r = report[part]
            print(f"| {part} | {r['converged']}/{r['tried']} | {r['max_seconds']} |")
    if "leader" in report:
        r = report["leader"]
        print(f"| leader kill during 2 -> 5 | {'finished' if r.get('finished') else 'NOT finished'} | {r.get('seconds_to_5_ready_workers')} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    failed = any(report[p]["converged"] < report[p]["tried"] for p in ("kills", "control-plane") if p in report)
    return 1 if failed or ("leader" in report and not report["leader"].get("finished")) else 0


if __name__ == "__main__":
    raise SystemExit(main())
