"""How many apiserver requests the operator makes: per lifecycle step, and at rest.

Runs ``dask-operator run`` (as the testing kit starts it) against ``$KUBECONFIG`` in a fresh
namespace, through a counting proxy (``apiproxy.py``): the operator's kubeconfig points at the
proxy, everything else (kubectl here, the kubelet, the controller manager) talks to the
apiserver directly, so every counted request is the operator's. Prints, as a table (and as JSON
with ``--json FILE``):

* start-up, then each lifecycle step of one DaskCluster: create with 2 workers, scale to 5,
  scale to 2, delete. A step ends when its state is reached and the operator has then made no
  request for ``--quiet`` seconds (or after ``--step-timeout``, marked "not quiet");
* requests per minute at rest with K idle DaskClusters (0 workers) for each K of ``--idle``,
  counted over ``--window`` seconds once all K are Running and the operator has made no write
  for ``--quiet`` seconds;
* the operator's resident memory (VmRSS from /proc) after each of them, and every figure broken
  down by verb and resource.

The schedulers of idle clusters run on a stub node by default (``--idle-schedulers``, see
``stubnode.py``): a hundred real schedulers would be a hundred Python processes on the shared
machine, and the operator does not call the scheduler of an idle cluster, so its requests are the
same. Request counts and memory are the figures; this script reports no durations.

Usage: ``benchmarks/run api_requests.py`` (brings up the local cluster), or
``python benchmarks/api_requests.py [--idle 10,100] [--window 60] [--skip-lifecycle]`` with
KUBECONFIG set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from apiproxy import (
    CountingProxy,
    RequestKind,
    by_verb,
    difference,
    proxy_kubeconfig,
    upstream_from_kubeconfig,
)
from dask_operator import config as operator_config
from dask_operator.testing import OperatorProcess, run_operator, wait_for
from kubectl import apply_crds, get, items, kubectl, pods
from stubnode import StubNode, place_on_stub_node

from dask_kubernetes.operator import make_cluster_spec

LIFECYCLE_CLUSTER = "lifecycle"
IDLE_PREFIX = "idle"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION"})


@dataclass
class Figure:
    """Requests counted for one step (or one idle window) and the operator's memory after it."""

    name: str
    requests: Counter[RequestKind]
    rss_mb: float
    quiet: bool = True
    per_minute: float | None = None  # idle windows only
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.total,
            "per_minute": self.per_minute,
            "rss_mb": round(self.rss_mb, 1),
            "quiet": self.quiet,
            "by_verb": by_verb(self.requests),
            "by_request": {str(kind): n for kind, n in sorted(self.requests.items(), key=lambda kv: (-kv[1], kv[0]))},
            "notes": self.notes,
        }


# --- pure helpers -----------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    """``"10,100"`` -> ``[10, 100]`` (sorted, without duplicates; empty text: none)."""
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if any(size < 1 for size in sizes):
        raise ValueError(f"idle cluster counts must be 1 or more: {text!r}")
    return sizes


def rss_mb(status_text: str) -> float:
    """VmRSS of a ``/proc/<pid>/status`` text, in MB (0 when absent)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_cluster(name: str, *, on_stub_node: bool) -> dict[str, Any]:
    """A DaskCluster without workers, its scheduler placed on the stub node if asked."""
    spec = make_cluster_spec(name=name, n_workers=0)
    if on_stub_node:
        scheduler = spec["spec"]["scheduler"]
        scheduler["spec"] = place_on_stub_node(scheduler["spec"])
    return spec


def lifecycle_total(figures: Sequence[Figure]) -> Counter[RequestKind]:
    total: Counter[RequestKind] = Counter()
    for figure in figures:
        total.update(figure.requests)
    return total


def table(figures: Sequence[Figure]) -> str:
    """One line per figure: requests (per minute for idle windows), the main verbs, RSS."""
    verbs = ["GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"]
    width = max([len(f.name) for f in figures] + [10])
    head = f"{'':<{width}}  {'requests':>8}  {'per min':>7}  " + "  ".join(f"{v:>6}" for v in verbs) + f"  {'RSS MB':>6}"
    lines = [head]
    for f in figures:
        counts = by_verb(f.requests)
        per_minute = f"{f.per_minute:7.1f}" if f.per_minute is not None else f"{'':7}"
        name = f.name + ("" if f.quiet else " *")
        lines.append(
            f"{name:<{width}}  {f.total:>8}  {per_minute}  " + "  ".join(f"{counts.get(v, 0):>6}" for v in verbs) + f"  {f.rss_mb:>6.1f}"
        )
    return "\n".join(lines)


def breakdown(figure: Figure) -> str:
    rows = sorted(figure.requests.items(), key=lambda kv: (-kv[1], kv[0]))
    return "\n".join([f"{figure.name}:"] + [f"  {n:>6}  {kind}" for kind, n in rows])


# --- measuring --------------------------------------------------------------------------------------


class Bench:
    """The operator behind the counting proxy, and the way to measure one step."""

    def __init__(self, proxy: CountingProxy, operator: OperatorProcess, quiet: float, step_timeout: float) -> None:
        self.proxy = proxy
        self.operator = operator
        self.quiet = quiet
        self.step_timeout = step_timeout

    def rss(self) -> float:
        assert self.operator.proc is not None
        return rss_mb(Path(f"/proc/{self.operator.proc.pid}/status").read_text())

    def _check_alive(self) -> None:
        if not self.operator.running:
            raise SystemExit(f"the operator exited:\n{self.operator.log()[-4000:]}")

    def wait(self, reached: Callable[[], Any], *, timeout: float, interval: float, what: str) -> None:
        """Until ``reached()``; SystemExit at once if the operator exits meanwhile."""

        def check() -> Any:
            self._check_alive()
            return reached()

        wait_for(check, timeout=timeout, interval=interval, message=what)

    def settle(self, *, writes_only: bool = False) -> bool:
        """Until the operator has made no request (no write, if ``writes_only``) for ``quiet``
        seconds; False if that did not happen within the step timeout."""
        deadline = time.monotonic() + self.step_timeout
        last = self.proxy.tally.snapshot()
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            self._check_alive()
            if not writes_only and self.proxy.tally.quiet_for() >= self.quiet:
                return True
            now = self.proxy.tally.snapshot()
            if writes_only:
                if any(kind.verb in WRITE_VERBS for kind in difference(now, last)):
                    last_change = time.monotonic()
                if time.monotonic() - last_change >= self.quiet:
                    return True
            last = now
            time.sleep(0.2)
        return False

    def step(self, name: str, action: Callable[[], Any], reached: Callable[[], Any], what: str,
             since: Counter[RequestKind] | None = None) -> Figure:
        """Count the requests from ``action`` until ``reached`` and then quiet (counting from
        the ``since`` snapshot if given, else from now)."""
        before = self.proxy.tally.snapshot() if since is None else since
        action()
        self.wait(reached, timeout=self.step_timeout, interval=0.5, what=what)
        quiet = self.settle()
        figure = Figure(name, difference(self.proxy.tally.snapshot(), before), self.rss(), quiet=quiet)
        print(f"  {name}: {figure.total} requests{'' if quiet else ' (the operator did not go quiet)'}", flush=True)
        return figure


def cluster_phase(name: str, namespace: str) -> str | None:
    return (get("daskcluster", name, namespace).get("status") or {}).get("phase")


def workers_running(name: str, namespace: str, n: int) -> bool:
    """Exactly ``n`` worker pods, all Running and ready, and the DaskCluster says so."""
    workers = pods(namespace, f"dask.org/cluster-name={name},dask.org/component=worker", terminating=True)
    ready = [
        p for p in workers
        if not p["metadata"].get("deletionTimestamp")
        and any(c.get("type") == "Ready" and c.get("status") == "True" for c in (p.get("status") or {}).get("conditions") or [])
    ]
    status = get("daskcluster", name, namespace).get("status") or {}
    return len(workers) == n and len(ready) == n and status.get("phase") == "Running" and (status.get("workers") or {}).get("ready") == n


def lifecycle(bench: Bench, namespace: str) -> list[Figure]:
    name = LIFECYCLE_CLUSTER

    def scale(n: int) -> Callable[[], Any]:  # what KubeCluster.scale(n) does
        return lambda: kubectl("patch", "daskcluster", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"worker": {"replicas": n}}}))

    def gone() -> bool:
        return not pods(namespace, f"dask.org/cluster-name={name}", terminating=True) and not get("daskcluster", name, namespace) and not items(
            "daskworkergroups", namespace, f"dask.org/cluster-name={name}"
        )

    spec = json.dumps(make_cluster_spec(name=name, n_workers=2))
    return [
        bench.step("create (2 workers)", lambda: kubectl("apply", "-n", namespace, "-f", "-", input=spec),
                   lambda: workers_running(name, namespace, 2), "2 workers Running"),
        bench.step("scale 2 -> 5", scale(5), lambda: workers_running(name, namespace, 5), "5 workers Running"),
        bench.step("scale 5 -> 2", scale(2), lambda: workers_running(name, namespace, 2), "2 workers left"),
        bench.step("delete", lambda: kubectl("delete", "daskcluster", name, "-n", namespace, "--wait=false"), gone,
                   "the cluster and its pods gone"),
    ]


def idle(bench: Bench, namespace: str, size: int, existing: int, window: float, on_stub_node: bool) -> Figure:
    """Bring the idle clusters from ``existing`` to ``size``, then count over ``window`` seconds."""
    names = [f"{IDLE_PREFIX}-{i:04d}" for i in range(size)]
    new = [idle_cluster(n, on_stub_node=on_stub_node) for n in names[existing:]]
    if new:
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": new}))

    def all_running() -> bool:
        clusters = items("daskclusters", namespace)
        return sum(1 for c in clusters if c["metadata"]["name"].startswith(IDLE_PREFIX) and (c.get("status") or {}).get("phase") == "Running") >= size

    bench.wait(all_running, timeout=bench.step_timeout + 3 * size, interval=1, what=f"{size} idle DaskClusters Running")
    settled = bench.settle(writes_only=True)
    before = bench.proxy.tally.snapshot()
    time.sleep(window)
    counted = difference(bench.proxy.tally.snapshot(), before)
    figure = Figure(f"idle, {size} clusters, {window:g} s", counted, bench.rss(), quiet=settled)
    figure.per_minute = figure.total * 60 / window
    figure.notes.append(f"schedulers on {'the stub node' if on_stub_node else 'the process node'}")
    print(f"  {figure.name}: {figure.per_minute:.1f} requests/min", flush=True)
    return figure


@contextmanager
def operator_behind_proxy(namespace: str, reconcile_interval: float, log_dir: Path) -> Iterator[tuple[CountingProxy, OperatorProcess]]:
    with ExitStack() as stack:
        proxy = stack.enter_context(CountingProxy(upstream_from_kubeconfig(os.environ["KUBECONFIG"])))
        kubeconfig = log_dir / "operator.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(proxy_kubeconfig(proxy.url, namespace)))
        operator = stack.enter_context(
            run_operator(namespace, kubeconfig=str(kubeconfig), reconcile_interval=reconcile_interval, log_dir=log_dir)
        )
        yield proxy, operator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", default="10,100", help="idle DaskCluster counts to measure, comma separated; '' for none (default 10,100)")
    parser.add_argument("--window", type=float, default=60, help="seconds each idle count is measured over (default 60)")
    parser.add_argument("--skip-lifecycle", action="store_true", help="measure only start-up and the idle counts")
    parser.add_argument("--idle-schedulers", choices=["stub-node", "process-node"], default="stub-node",
                        help="where the schedulers of idle clusters run (default stub-node: no processes)")
    parser.add_argument("--quiet", type=float, default=3, help="seconds without operator requests that end a step (default 3)")
    parser.add_argument("--step-timeout", type=float, default=180, help="longest wait for one step (default 180 s)")
    parser.add_argument("--reconcile-interval", type=float, default=float(operator_config.get("reconcile-interval") or 10),
                        help="the operator's kubernetes.controller.reconcile-interval (default: the operator's default)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    sizes = parse_sizes(args.idle)
    on_stub_node = args.idle_schedulers == "stub-node"
    if apply_crds():
        print("note: the CRDs are new; the deletion step may wait up to 30 s for the garbage collector to discover them")
    namespace = f"bench-api-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    log_dir = Path(tempfile.mkdtemp(prefix="api-requests-"))
    print(f"namespace {namespace}; operator log in {log_dir}", flush=True)
    figures: list[Figure] = []
    idle_figures: list[Figure] = []
    with ExitStack() as stack:
        if sizes and on_stub_node:
            stack.enter_context(StubNode(os.environ["KUBECONFIG"]))
        # Deleted while the operator (and the stub node) still run: nothing is left behind.
        stack.callback(subprocess.run, ["kubectl", "delete", "namespace", namespace, "--wait=false"], capture_output=True)
        proxy, operator = stack.enter_context(operator_behind_proxy(namespace, args.reconcile_interval, log_dir))
        bench = Bench(proxy, operator, args.quiet, args.step_timeout)
        # From the operator's first request: the proxy started before it.
        figures.append(bench.step("start-up", lambda: None, lambda: True, "start-up", since=Counter()))
        if not args.skip_lifecycle:
            figures += lifecycle(bench, namespace)
        existing = 0
        for size in sizes:
            idle_figures.append(idle(bench, namespace, size, existing, args.window, on_stub_node))
            existing = size
    steps = figures[1:]
    shown = list(figures)
    if steps:
        shown.append(Figure("lifecycle total", lifecycle_total(steps), steps[-1].rss_mb, quiet=all(f.quiet for f in steps)))
    shown += idle_figures
    print("\n" + table(shown))
    if not all(f.quiet for f in shown):
        print("* the operator was still making requests when the step timed out")
    print("\nrequests by verb and resource")
    for figure in shown:
        print(breakdown(figure))
    if args.json:
        args.json.write_text(json.dumps({
            "settings": {"idle": sizes, "window_seconds": args.window, "quiet_seconds": args.quiet,
                         "idle_schedulers": args.idle_schedulers, "reconcile_interval": args.reconcile_interval},
            "figures": [f.as_json() for f in shown],
        }, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    main()
