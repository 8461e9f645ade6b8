"""The scale envelope: many DaskClusters and thousands of worker pods on simulated (kwok) nodes,
against the raw-client floor measured in the same run.

Scenarios (sizes at ``--scale-factor 1``):

* **S1** 1,000 DaskClusters with 1 worker each, created at once -> every one shows phase
  Running; then all deleted -> every pod gone (2,000 pods and 1,000 Services);
* **S2** one DaskCluster, default group 0 -> 1,000 workers -> all Running; then -> 0;
* **S3** 100 DaskClusters, each scaled 0 -> 100 workers at once (10,000 pods) -> all Running.

Every scheduler and worker pod is placed on the fake nodes of ``ci/cluster up --fake-nodes N``
(nodeSelector + toleration in the DaskClusters' pod specs); nothing runs in them, so the
schedulers never answer and S2's scale-down runs with ``scale-down.allow-unsafe-fallback``.
Scheduler Services are headless (:data:`HEADLESS`).

**Floor:** before each scenario, a raw parallel client (kubernetes_asyncio, the operator's own
client library, without its rate limit; the best of ``--floor-concurrency``) creates the same
pods (and S1's Services) as plain objects on the same fake nodes, and the time until all of
them are Running is the floor; each scenario's time is printed as a ratio to it.

Each scenario runs its own operator (``dask-operator run`` as the testing kit starts it, in a
namespace of its own) behind the counting proxy of ``apiproxy.py``, and reports: ``seconds``,
``floor_seconds``, ``ratio``, ``rss_mb_peak`` (VmHWM), ``cpu_seconds`` (user + system),
``operator_requests`` and the 50/95/99th percentiles of the operator's
``dask_operator_pass_latency_seconds`` histogram (object changed -> pass finished), read from its
Prometheus endpoint, and ``left_behind``: the children (worker groups, Deployments,
ReplicaSets, Services, pods) still there once every DaskCluster is deleted and the garbage
collector has had ``--timeout`` seconds. Prints a table; ``--json FILE`` writes the figures.

Usage: ``benchmarks/run --scale`` (or ``benchmarks/run scale.py --scale-factor 0.1``), or
``python benchmarks/scale.py --scenarios S1,S2,S3 --json out.json`` with KUBECONFIG set.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from apiproxy import CountingProxy, difference, proxy_kubeconfig, upstream_from_kubeconfig
from dask_operator.kube import Kube
from dask_operator.ratelimit import TokenBucket
from dask_operator.testing import OperatorProcess, run_operator
from kubectl import apply_crds, kubectl

from dask_kubernetes.operator import make_cluster_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ci"))
from localcluster import kwok  # noqa: E402

SCENARIOS = ("S1", "S2", "S3")
QUANTILES = (0.5, 0.95, 0.99)
LATENCY_METRIC = "dask_operator_pass_latency_seconds"
PODS_PER_FAKE_NODE = int(kwok.CAPACITY["pods"])
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
BENCH_LABEL = "dask.org/scale-benchmark"

Manifest = dict[str, Any]

#: Scheduler Services (and the floor's) are headless: the local cluster's Service range is a /24
#: per instance (253 ClusterIPs) and S1 needs 1,000 of them; a headless Service is still an
#: object the operator creates, watches and owns, without an address from that range (and
#: without a listener of the local service proxy per Service).
HEADLESS = True


# --- sizes and pure helpers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    s1_clusters: int = 1000
    s2_workers: int = 1000
    s3_clusters: int = 100
    s3_workers: int = 100

    def pods(self, scenario: str) -> int:
        """Pods the scenario ends up with (schedulers included), what the floor creates."""
        if scenario == "S1":
            return 2 * self.s1_clusters
        if scenario == "S2":
            return self.s2_workers + 1
        return self.s3_clusters * (self.s3_workers + 1)


def sizes_for(factor: float) -> Sizes:
    """Scenario sizes at ``factor`` of the full run (S3 keeps 100 workers per cluster and scales
    the number of clusters), each at least 1."""
    if factor <= 0:
        raise ValueError(f"the scale factor must be positive: {factor}")
    full = Sizes()
    return Sizes(
        s1_clusters=max(1, round(full.s1_clusters * factor)),
        s2_workers=max(1, round(full.s2_workers * factor)),
        s3_clusters=max(1, round(full.s3_clusters * factor)),
        s3_workers=full.s3_workers,
    )


def parse_scenarios(text: str) -> list[str]:
    chosen = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown or not chosen:
        raise ValueError(f"scenarios are among {', '.join(SCENARIOS)}, not {text!r}")
    return [s for s in SCENARIOS if s in chosen]


def fake_nodes_needed(sizes: Sizes, scenarios: Iterable[str]) -> int:
    """Fake nodes with room for the biggest scenario (and its floor, deleted before it runs)."""
    most = max((sizes.pods(s) for s in scenarios), default=1)
    return max(1, math.ceil(most * 1.1 / PODS_PER_FAKE_NODE))


def cluster_on_fake_nodes(name: str, workers: int) -> Manifest:
    """A DaskCluster whose scheduler and worker pods go to the fake nodes."""
    spec = make_cluster_spec(name=name, n_workers=workers)
    for part in ("scheduler", "worker"):
        spec["spec"][part]["spec"] = kwok.place_on_fake_nodes(spec["spec"][part]["spec"])
    spec["spec"]["scheduler"]["service"]["clusterIP"] = "None"  # see HEADLESS
    return spec


def plain_pod(name: str, namespace: str) -> Manifest:
    """What the floor creates: the smallest pod a worker could be, on a fake node."""
    spec = kwok.place_on_fake_nodes({"containers": [{"name": "worker", "image": "ghcr.io/dask/dask:latest",
                                                     "args": ["dask", "worker"]}]})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                           "labels": {BENCH_LABEL: "floor"}}, "spec": spec}


def plain_service(name: str, namespace: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace,
                                                               "labels": {BENCH_LABEL: "floor"}},
            "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "tcp-comm", "port": 8786}]}}


def histogram_buckets(metrics_text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of histogram ``name``, summed over labels."""
    buckets: dict[float, float] = {}
    prefix = f"{name}_bucket"
    for line in metrics_text.splitlines():
        if not line.startswith(prefix + "{"):
            continue
        labels, _, value = line[len(prefix) + 1:].rpartition("} ")
        le = next(part.split("=", 1)[1].strip('"') for part in labels.split(",") if part.startswith("le="))
        bound = math.inf if le == "+Inf" else float(le)
        buckets[bound] = buckets.get(bound, 0.0) + float(value)
    return buckets


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The ``q`` quantile of cumulative ``buckets``, interpolated linearly inside a bucket as
    Prometheus' ``histogram_quantile`` does; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all we know
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def bucket_difference(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def process_figures(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds user + system) of a running process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return peak, cpu


@dataclass
class Figure:
    scenario: str
    what: str
    pods: int
    seconds: float = 0.0
    floor_seconds: float = 0.0
    floor_concurrency: int = 0
    after_seconds: float | None = None  # the second step: deletion (S1) or scale to 0 (S2)
    after_what: str = ""
    rss_mb_peak: float = 0.0
    cpu_seconds: float = 0.0
    operator_requests: int | None = None
    left_behind: dict[str, int] = field(default_factory=dict)  # objects left after the deletes
    latency_seconds: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.floor_seconds if self.floor_seconds else None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 2)
        return data


def table(figures: Sequence[Figure]) -> str:
    head = (f"{'':4} {'what':40} {'pods':>6} {'seconds':>8} {'floor s':>8} {'ratio':>6} {'then s':>7} "
            f"{'RSS MB':>7} {'CPU s':>7} {'requests':>8} {'p50 s':>6} {'p95 s':>6} {'p99 s':>6}")
    lines = [head]
    for f in figures:
        lat = [f.latency_seconds.get(f"p{int(q * 100)}") for q in QUANTILES]
        lat_s = " ".join(f"{v:6.2f}" if v is not None else f"{'-':>6}" for v in lat)
        ratio = f"{f.ratio:6.2f}" if f.ratio is not None else f"{'-':>6}"
        then = f"{f.after_seconds:7.1f}" if f.after_seconds is not None else f"{'-':>7}"
        requests = f"{f.operator_requests:>8}" if f.operator_requests is not None else f"{'-':>8}"
        lines.append(f"{f.scenario:4} {f.what:40} {f.pods:>6} {f.seconds:8.1f} {f.floor_seconds:8.1f} {ratio} {then} "
                     f"{f.rss_mb_peak:7.0f} {f.cpu_seconds:7.1f} {requests} {lat_s}")
    return "\n".join(lines)


# --- the API, asynchronously ------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Api:
    """The raw client (the operator's own ``Kube`` on kubernetes_asyncio, rate limit off)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        kube.limiter = TokenBucket(0, 1)

    @classmethod
    async def connect(cls) -> Api:
        return cls(await Kube.connect())

    async def close(self) -> None:
        await self.kube.close()

    async def all_at_once(self, items: Sequence[Any], call: Callable[[Any], Awaitable[Any]], concurrency: int) -> None:
        """``call(item)`` for every item, ``concurrency`` at a time; the first failure raises."""
        queue = list(reversed(items))

        async def worker() -> None:
            while queue:
                await call(queue.pop())

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(items))))))

    async def count(self, path: str, *, selector: str | None = None, field_selector: str | None = None) -> int:
        """How many objects a LIST returns (metadata only: cheap even for 10,000 pods)."""
        query = [(k, v) for k, v in (("labelSelector", selector), ("fieldSelector", field_selector)) if v]
        result = await self.kube.api.call_api(
            path, "GET", query_params=query, header_params={"Accept": METADATA_LIST}, auth_settings=["BearerToken"],
            response_types_map={200: "object"}, _return_http_data_only=True,
        )
        return len(result.get("items") or [])

    async def running_pods(self, namespace: str, selector: str | None = None) -> int:
        return await self.count(f"/api/v1/namespaces/{namespace}/pods", selector=selector,
                                field_selector="status.phase=Running")

    async def pods(self, namespace: str) -> int:
        return await self.count(f"/api/v1/namespaces/{namespace}/pods")

    async def clusters_running(self, namespace: str) -> int:
        listing = await self.kube.list("kubernetes.dask.org/v1", "DaskCluster", namespace)
        return sum(1 for c in listing if (c.get("status") or {}).get("phase") == "Running")

    async def delete_all(self, namespace: str, plural_path: str) -> None:
        await self.kube.api.call_api(
            f"/api/v1/namespaces/{namespace}/{plural_path}" if "/" not in plural_path else plural_path, "DELETE",
            query_params=[], header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
            response_types_map={200: "object"}, _return_http_data_only=True,
        )


async def wait_until(what: str, check: Callable[[], Awaitable[int]], target: int, *, timeout: float,
                     comparison: str = ">=", interval: float = 1.0) -> float:
    """Poll ``check`` until it reaches ``target``; the seconds it took. Prints progress every 10 s."""
    started = time.monotonic()
    last_print = started
    while True:
        value = await check()
        done = value >= target if comparison == ">=" else value <= target
        if done:
            return time.monotonic() - started
        now = time.monotonic()
        if now - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what} ({value} of {target})")
        if now - last_print >= 10:
            progress(f"  {what}: {value} of {target} after {now - started:.0f} s")
            last_print = now
        await asyncio.sleep(interval)


# --- floor --------------------------------------------------------------------------------------------


async def floor(api: Api, scenario: str, sizes: Sizes, concurrencies: Sequence[int], timeout: float) -> tuple[float, int]:
    """The best time (and its concurrency) a raw client takes to get the scenario's pods (and S1's
    Services) Running on the fake nodes."""
    best: tuple[float, int] | None = None
    pods = sizes.pods(scenario)
    services = sizes.s1_clusters if scenario == "S1" else 0
    for concurrency in concurrencies:
        namespace = f"scale-floor-{uuid.uuid4().hex[:6]}"
        await api.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        try:
            items = [plain_pod(f"p-{i:05d}", namespace) for i in range(pods)]
            items += [plain_service(f"s-{i:05d}", namespace) for i in range(services)]
            started = time.monotonic()
            await api.all_at_once(items, api.kube.create, concurrency)
            await wait_until(f"floor pods Running ({concurrency} at once)", functools.partial(api.running_pods, namespace),
                             pods, timeout=timeout, interval=0.5)
            seconds = time.monotonic() - started
            progress(f"  floor {scenario}: {pods} pods{f' + {services} Services' if services else ''} Running in {seconds:.1f} s "
                     f"with {concurrency} requests at once")
            if best is None or seconds < best[0]:
                best = (seconds, concurrency)
        finally:
            await api.delete_all(namespace, "pods")
            await wait_until("floor pods gone", functools.partial(api.pods, namespace), 0, timeout=timeout, comparison="<=")
            await api.kube.delete("v1", "Namespace", "", namespace)
    assert best is not None
    return best


# --- scenarios ----------------------------------------------------------------------------------------


async def s1(api: Api, namespace: str, sizes: Sizes, concurrency: int, timeout: float, figure: Figure) -> None:
    n = sizes.s1_clusters
    clusters = [cluster_on_fake_nodes(f"s1-{i:04d}", 1) | {"metadata": {"name": f"s1-{i:04d}", "namespace": namespace}}
                for i in range(n)]
    started = time.monotonic()
    await api.all_at_once(clusters, api.kube.create, concurrency)
    await wait_until("DaskClusters Running", lambda: api.clusters_running(namespace), n, timeout=timeout, interval=2)
    await wait_until("S1 pods Running", lambda: api.running_pods(namespace), 2 * n, timeout=timeout)
    figure.seconds = time.monotonic() - started
    progress(f"  S1: {n} DaskClusters Running, {2 * n} pods Running in {figure.seconds:.1f} s")
    started = time.monotonic()
    await api.delete_all(namespace, "/apis/kubernetes.dask.org/v1/namespaces/" + namespace + "/daskclusters")
    await wait_until("S1 pods gone", lambda: api.pods(namespace), 0, timeout=timeout, comparison="<=")
    figure.after_seconds = time.monotonic() - started
    figure.after_what = "all deleted -> every pod gone"
    progress(f"  S1: deleted, every pod gone in {figure.after_seconds:.1f} s")


async def scale_clusters(api: Api, namespace: str, names: Sequence[str], replicas: int, concurrency: int) -> None:
    async def patch(name: str) -> None:
        await api.kube.patch("kubernetes.dask.org/v1", "DaskCluster", namespace, name, {"spec": {"worker": {"replicas": replicas}}})

    await api.all_at_once(list(names), patch, concurrency)


async def create_idle_clusters(api: Api, namespace: str, names: Sequence[str], concurrency: int, timeout: float) -> None:
    clusters = [cluster_on_fake_nodes(n, 0) | {"metadata": {"name": n, "namespace": namespace}} for n in names]
    await api.all_at_once(clusters, api.kube.create, concurrency)
    await wait_until("DaskClusters Running (setup)", lambda: api.clusters_running(namespace), len(names), timeout=timeout, interval=1)


async def s2(api: Api, namespace: str, sizes: Sizes, concurrency: int, timeout: float, figure: Figure) -> None:
    n = sizes.s2_workers
    await create_idle_clusters(api, namespace, ["s2"], concurrency, timeout)
    started = time.monotonic()
    await scale_clusters(api, namespace, ["s2"], n, concurrency)
    await wait_until("S2 workers Running", lambda: api.running_pods(namespace, "dask.org/component=worker"), n, timeout=timeout)
    figure.seconds = time.monotonic() - started
    progress(f"  S2: 0 -> {n} workers Running in {figure.seconds:.1f} s")
    started = time.monotonic()
    await scale_clusters(api, namespace, ["s2"], 0, concurrency)
    await wait_until("S2 workers gone", lambda: api.count(f"/api/v1/namespaces/{namespace}/pods", selector="dask.org/component=worker"),
                     0, timeout=timeout, comparison="<=")
    figure.after_seconds = time.monotonic() - started
    figure.after_what = f"{n} -> 0 workers (unsafe fallback: schedulers never answer)"
    progress(f"  S2: {n} -> 0 workers in {figure.after_seconds:.1f} s")


async def s3(api: Api, namespace: str, sizes: Sizes, concurrency: int, timeout: float, figure: Figure) -> None:
    names = [f"s3-{i:03d}" for i in range(sizes.s3_clusters)]
    await create_idle_clusters(api, namespace, names, concurrency, timeout)
    total = sizes.s3_clusters * sizes.s3_workers
    started = time.monotonic()
    await scale_clusters(api, namespace, names, sizes.s3_workers, concurrency)
    await wait_until("S3 workers Running", lambda: api.running_pods(namespace, "dask.org/component=worker"), total,
                     timeout=timeout, interval=2)
    figure.seconds = time.monotonic() - started
    progress(f"  S3: {sizes.s3_clusters} x 0 -> {sizes.s3_workers} workers ({total} pods) Running in {figure.seconds:.1f} s")


RUNNERS = {"S1": s1, "S2": s2, "S3": s3}

CHILD_PATHS = {
    "daskworkergroups": "/apis/kubernetes.dask.org/v1/namespaces/{ns}/daskworkergroups",
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments",
    "replicasets": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "services": "/api/v1/namespaces/{ns}/services",
    "pods": "/api/v1/namespaces/{ns}/pods",
}


async def left_behind(api: Api, namespace: str, timeout: float) -> dict[str, int]:
    """What is still there once every DaskCluster is deleted and the garbage collector has had
    ``timeout`` seconds (an empty dict when nothing is)."""

    async def remaining() -> dict[str, int]:
        counts = {kind: await api.count(path.format(ns=namespace)) for kind, path in CHILD_PATHS.items()}
        return {kind: n for kind, n in counts.items() if n}

    async def total() -> int:
        return sum((await remaining()).values())

    try:
        await wait_until("children gone", total, 0, timeout=timeout, comparison="<=", interval=2)
    except SystemExit:
        pass
    return await remaining()


def describe(scenario: str, sizes: Sizes) -> str:
    if scenario == "S1":
        return f"{sizes.s1_clusters} DaskClusters x 1 worker -> Running"
    if scenario == "S2":
        return f"1 DaskCluster 0 -> {sizes.s2_workers} workers"
    return f"{sizes.s3_clusters} DaskClusters 0 -> {sizes.s3_workers} workers"


# --- the operator under test ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def start_operator(stack: ExitStack, namespace: str, log_dir: Path, metrics_port: int, counted: bool,
                   extra_env: dict[str, str]) -> tuple[OperatorProcess, CountingProxy | None]:
    env = {
        "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(metrics_port),
        "DASK_KUBERNETES__CONTROLLER__METRICS__ADDRESS": "127.0.0.1",
        # Nothing runs on fake nodes: no scheduler ever answers a retirement.
        "DASK_KUBERNETES__CONTROLLER__SCALE_DOWN__ALLOW_UNSAFE_FALLBACK": "true",
        **extra_env,
    }
    proxy = None
    kubeconfig = os.environ["KUBECONFIG"]
    if counted:
        proxy = stack.enter_context(CountingProxy(upstream_from_kubeconfig(kubeconfig)))
        path = log_dir / "operator.kubeconfig"
        path.write_text(yaml.safe_dump(proxy_kubeconfig(proxy.url, namespace)))
        kubeconfig = str(path)
    operator = stack.enter_context(run_operator(namespace, kubeconfig=kubeconfig, env=env, log_dir=log_dir))
    return operator, proxy


def ensure_fake_nodes(count: int) -> None:
    """At least ``count`` Ready fake nodes: `ci/cluster up --fake-nodes` (a no-op when there)."""
    listing = json.loads(kubectl("get", "nodes", "-l", "type=kwok", "-o", "json"))["items"]
    ready = [n for n in listing if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])]
    if len(ready) >= count:
        return
    progress(f"starting {count} fake nodes (ci/cluster up --fake-nodes {count})")
    proc = subprocess.run([str(ROOT / "ci" / "cluster"), "up", "--fake-nodes", str(count)], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit("ci/cluster up --fake-nodes failed (KUBECONFIG must point at the local cluster)")


async def run_scenario(scenario: str, sizes: Sizes, args: argparse.Namespace, log_root: Path) -> Figure:
    figure = Figure(scenario, describe(scenario, sizes), sizes.pods(scenario))
    api = await Api.connect()
    try:
        progress(f"{scenario}: floor ({sizes.pods(scenario)} plain pods, concurrency {args.floor_concurrency})")
        figure.floor_seconds, figure.floor_concurrency = await floor(api, scenario, sizes, args.floor_concurrency, args.timeout)
        namespace = f"scale-{scenario.lower()}-{uuid.uuid4().hex[:6]}"
        await api.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        log_dir = log_root / scenario
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        with ExitStack() as stack:
            extra = dict(item.split("=", 1) for item in args.operator_env)
            operator, proxy = await asyncio.to_thread(start_operator, stack, namespace, log_dir, port, not args.no_proxy, extra)
            assert operator.proc is not None
            progress(f"{scenario}: operator pid {operator.proc.pid} in namespace {namespace}, log {log_dir}")
            before_requests = proxy.tally.snapshot() if proxy else None
            before_latency = histogram_buckets(await asyncio.to_thread(scrape, port), LATENCY_METRIC)
            cpu_before = process_figures(operator.proc.pid)[1]
            await RUNNERS[scenario](api, namespace, sizes, figure.floor_concurrency, args.timeout, figure)
            after_latency = histogram_buckets(await asyncio.to_thread(scrape, port), LATENCY_METRIC)
            figure.rss_mb_peak, cpu_after = process_figures(operator.proc.pid)
            figure.cpu_seconds = cpu_after - cpu_before
            if proxy is not None and before_requests is not None:
                figure.operator_requests = sum(difference(proxy.tally.snapshot(), before_requests).values())
            latency = bucket_difference(after_latency, before_latency)
            figure.latency_seconds = {f"p{int(q * 100)}": quantile(latency, q) for q in QUANTILES}
            errors = [line for line in operator.log().splitlines() if " ERROR " in line or "Traceback" in line]
            if errors:
                figure.notes.append(f"{len(errors)} error line(s) in the operator log, e.g. {errors[0][:200]}")
            await api.delete_all(namespace, f"/apis/kubernetes.dask.org/v1/namespaces/{namespace}/daskclusters")
            await wait_until(f"{scenario} pods gone", lambda: api.pods(namespace), 0, timeout=args.timeout, comparison="<=")
            figure.left_behind = await left_behind(api, namespace, args.timeout)
            if figure.left_behind:
                figure.notes.append(f"left behind after the deletes: {figure.left_behind}")
        await api.kube.delete("v1", "Namespace", "", namespace)
    finally:
        await api.close()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="S1,S2,S3", help="comma separated among S1,S2,S3 (default all)")
    parser.add_argument("--scale-factor", type=float, default=1.0,
                        help="fraction of the full sizes (0.1: 100 clusters in S1, 100 workers in S2, 10 x 100 in S3)")
    parser.add_argument("--floor-concurrency", default="50,100",
                        help="requests at once tried by the raw client; the best time is the floor (default 50,100)")
    parser.add_argument("--timeout", type=float, default=900, help="longest wait for one step (default 900 s)")
    parser.add_argument("--no-proxy", action="store_true", help="no counting proxy in front of the operator (no request counts)")
    parser.add_argument("--operator-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the operator, e.g. DASK_KUBERNETES__CONTROLLER__KUBE_API__QPS=400")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    scenarios = parse_scenarios(args.scenarios)
    args.floor_concurrency = sorted({int(c) for c in str(args.floor_concurrency).split(",") if c.strip()})
    sizes = sizes_for(args.scale_factor)
    ensure_fake_nodes(fake_nodes_needed(sizes, scenarios))
    apply_crds()
    log_root = Path(tempfile.mkdtemp(prefix="scale-"))
    progress(f"scale benchmark: {', '.join(scenarios)} at scale factor {args.scale_factor:g} ({sizes}); logs in {log_root}")
    figures = [asyncio.run(run_scenario(s, sizes, args, log_root)) for s in scenarios]
    print("\n" + table(figures))
    for f in figures:
        for note in f.notes:
            print(f"note {f.scenario}: {note}")
    if args.json:
        args.json.write_text(json.dumps({
            "settings": {"scenarios": scenarios, "scale_factor": args.scale_factor, "sizes": asdict(sizes),
                         "floor_concurrency": args.floor_concurrency, "counted": not args.no_proxy,
                         "operator_env": args.operator_env},
            "figures": [f.as_json() for f in figures],
        }, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    main()
