"""``kubectl dask list|describe|scale|logs|dashboard|delete``: the kubectl plugin's commands.

kubectl runs ``kubectl-dask`` (found on PATH) for ``kubectl dask ...``. Every read and write goes
through kubectl itself (the one on PATH, or ``$KUBECTL``), so the plugin honours the same
kubeconfig, context and namespace defaults as the kubectl that ran it, and errors read the same.
Output follows kubectl: tables by default, ``-o wide|yaml|json``, ``-n NAMESPACE``, ``-A``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import yaml

from . import render

CLUSTERS = "daskclusters.kubernetes.dask.org"
GROUPS = "daskworkergroups.kubernetes.dask.org"
AUTOSCALERS = "daskautoscalers.kubernetes.dask.org"
# How long `dashboard` waits for kubectl port-forward to say which local port it listens on.
FORWARD_START_LINES = 20


class KubectlError(Exception):
    """kubectl failed; its stderr says why (printed as is, like kubectl's own errors)."""

    def __init__(self, stderr: str, code: int) -> None:
        super().__init__(stderr)
        self.code = code


class Kubectl:
    """The plugin's only I/O: kubectl with the connection flags the user gave."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.binary = os.environ.get("KUBECTL") or shutil.which("kubectl") or "kubectl"
        self.flags: list[str] = []
        if args.kubeconfig:
            self.flags += ["--kubeconfig", args.kubeconfig]
        if args.context:
            self.flags += ["--context", args.context]
        self.namespace: str | None = args.namespace

    def command(self, *args: str, namespaced: bool = True) -> list[str]:
        scope = ["-n", self.namespace] if namespaced and self.namespace else []
        return [self.binary, *self.flags, *scope, *args]

    def run(self, *args: str, namespaced: bool = True) -> str:
        proc = subprocess.run(self.command(*args, namespaced=namespaced), capture_output=True, text=True)
        if proc.returncode != 0:
            raise KubectlError(proc.stderr, proc.returncode)
        return proc.stdout

    def json(self, *args: str, namespaced: bool = True) -> Any:
        return json.loads(self.run(*args, "-o", "json", namespaced=namespaced))

    def items(self, resource: str, *extra: str, all_namespaces: bool = False) -> list[dict[str, Any]]:
        scope = ["-A"] if all_namespaces else []
        items: list[dict[str, Any]] = self.json("get", resource, *scope, *extra, namespaced=not all_namespaces)["items"]
        return items

    def stream(self, *args: str) -> int:
        """Run kubectl with the terminal's stdout/stderr (logs); its exit code."""
        return subprocess.run(self.command(*args)).returncode

    def current_namespace(self) -> str:
        if self.namespace:
            return self.namespace
        out = self.run("config", "view", "--minify", "-o", "jsonpath={..namespace}", namespaced=False).strip()
        return out or "default"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _print_objects(obj: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(obj, indent=4))
    else:
        print(yaml.safe_dump(obj, sort_keys=False), end="")


def _as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""}}


# --- commands ------------------------------------------------------------------------------------


def cmd_list(kubectl: Kubectl, args: argparse.Namespace) -> int:
    clusters = kubectl.items(CLUSTERS, all_namespaces=args.all_namespaces)
    if args.output in ("json", "yaml"):
        _print_objects(_as_list(clusters), args.output)
        return 0
    if not clusters:
        where = "any namespace" if args.all_namespaces else f"{kubectl.current_namespace()} namespace"
        print(f"No Dask clusters found in {where}.", file=sys.stderr)
        return 0
    groups = kubectl.items(GROUPS, all_namespaces=args.all_namespaces) if args.output == "wide" else []
    print(render.cluster_rows(clusters, groups, _now(), all_namespaces=args.all_namespaces, wide=args.output == "wide"))
    return 0


def _belonging(kubectl: Kubectl, cluster: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    name = cluster["metadata"]["name"]
    groups = render.groups_of(cluster, kubectl.items(GROUPS))
    pods = kubectl.items("pods", "-l", f"{render.LABEL_CLUSTER}={name}")
    autoscalers = [a for a in kubectl.items(AUTOSCALERS) if (a.get("spec") or {}).get("cluster") == name]
    involved = {("DaskCluster", name)} | {("DaskWorkerGroup", g["metadata"]["name"]) for g in groups}
    events = [e for e in kubectl.items("events")
              if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")) in involved]
    return {"groups": groups, "pods": pods, "autoscalers": autoscalers, "events": events}


def cmd_describe(kubectl: Kubectl, args: argparse.Namespace) -> int:
    cluster = kubectl.json("get", CLUSTERS, args.cluster)
    parts = _belonging(kubectl, cluster)
    if args.output in ("json", "yaml"):
        _print_objects(_as_list([cluster, *parts["groups"], *parts["autoscalers"], *parts["pods"]]), args.output)
        return 0
    print(render.describe(cluster, parts["groups"], parts["pods"], parts["autoscalers"], parts["events"], _now()))
    return 0


def cmd_scale(kubectl: Kubectl, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        print("error: the number of workers must be 0 or more", file=sys.stderr)
        return 1
    if args.worker_group in (None, "default"):
        target = f"{CLUSTERS}/{args.cluster}"
        group = f"{args.cluster}-default"
    else:
        group = args.worker_group if args.worker_group.startswith(f"{args.cluster}-") else f"{args.cluster}-{args.worker_group}"
        target = f"{GROUPS}/{group}"
    autoscaled = [a["metadata"]["name"] for a in kubectl.items(AUTOSCALERS)
                  if (a.get("spec") or {}).get("cluster") == args.cluster
                  and ((a.get("spec") or {}).get("workerGroup") or f"{args.cluster}-default") == group]
    print(kubectl.run("scale", target, f"--replicas={args.replicas}"), end="")
    if autoscaled:
        print(f"warning: DaskAutoscaler {', '.join(autoscaled)} also scales this group and may change it again", file=sys.stderr)
    return 0


def cmd_logs(kubectl: Kubectl, args: argparse.Namespace) -> int:
    selector = f"{render.LABEL_CLUSTER}={args.cluster}"
    # Every line by default, as for one pod (kubectl's default with a selector is the last 10).
    extra = (["-f"] if args.follow else []) + [f"--tail={-1 if args.tail is None else args.tail}"]
    if args.pod:
        return kubectl.stream("logs", args.pod, *extra)
    if args.workers or args.worker_group:
        selector += f",{render.LABEL_COMPONENT}=worker"
        if args.worker_group:
            group = args.worker_group if args.worker_group.startswith(f"{args.cluster}-") else f"{args.cluster}-{args.worker_group}"
            selector += f",{render.LABEL_WORKER_GROUP}={group}"
    else:
        selector += f",{render.LABEL_COMPONENT}=scheduler"
    return kubectl.stream("logs", "-l", selector, "--prefix", "--max-log-requests=50", *extra)


def cmd_dashboard(kubectl: Kubectl, args: argparse.Namespace) -> int:
    cluster = kubectl.json("get", CLUSTERS, args.cluster)
    service = kubectl.json("get", "service", f"{args.cluster}-scheduler")
    remote = render.dashboard_port(service)
    exposed = (cluster.get("status") or {}).get("externalDashboardURL")
    command = kubectl.command("port-forward", "--address", args.address, f"service/{args.cluster}-scheduler", f"{args.port}:{remote}")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        for _ in range(FORWARD_START_LINES):  # "Forwarding from 127.0.0.1:PORT -> 8787"
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Forwarding from ") and "->" in line:
                local = line.split()[2]
                host, port = local.rsplit(":", 1)
                print(f"Dashboard of DaskCluster {args.cluster}: {render.local_dashboard_url(service, host.strip('[]'), int(port))}")
                if exposed:
                    print(f"Also exposed at: {exposed}")
                print("Forwarding until interrupted (Ctrl-C).", flush=True)
                break
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def cmd_delete(kubectl: Kubectl, args: argparse.Namespace) -> int:
    out = kubectl.run("delete", CLUSTERS, *args.clusters, f"--wait={'true' if args.wait else 'false'}")
    print(out.replace(CLUSTERS, "daskcluster.kubernetes.dask.org"), end="")
    return 0


# --- arguments -------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="the namespace (default: the kubeconfig context's)")
    common.add_argument("--context", help="the kubeconfig context to use")
    common.add_argument("--kubeconfig", help="the kubeconfig file to use")

    top = argparse.ArgumentParser(prog="kubectl dask", description="Inspect and drive Dask clusters (DaskCluster resources).")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="list Dask clusters", aliases=["ls"])
    p.add_argument("-A", "--all-namespaces", action="store_true", help="in every namespace")
    p.add_argument("-o", "--output", choices=["wide", "yaml", "json"], help="output format")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", parents=[common], help="a cluster with its worker groups, pods, autoscalers and events")
    p.add_argument("cluster")
    p.add_argument("-o", "--output", choices=["yaml", "json"], help="print the objects instead")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("scale", parents=[common], help="set the number of workers of a cluster (its default group) or of one group")
    p.add_argument("cluster")
    p.add_argument("replicas", type=int)
    p.add_argument("-g", "--worker-group", help="the group (e.g. highmem for {cluster}-highmem); default: the default group")
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser("logs", parents=[common], help="logs of the scheduler (default), of the workers, or of one pod")
    p.add_argument("cluster")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--workers", action="store_true", help="every worker of the cluster")
    which.add_argument("-g", "--worker-group", help="the workers of one group")
    which.add_argument("--pod", help="one pod of the cluster")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--tail", type=int, help="only the last lines (default: all)")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("dashboard", parents=[common], help="port-forward the scheduler dashboard and print its URL")
    p.add_argument("cluster")
    p.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    p.add_argument("--address", default="127.0.0.1", help="local address to listen on")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("delete", parents=[common], help="delete Dask clusters (their pods go with them)")
    p.add_argument("clusters", nargs="+")
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True, help="wait until they are gone")
    p.set_defaults(func=cmd_delete)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    kubectl = Kubectl(args)
    try:
        code: int = args.func(kubectl, args)
    except KubectlError as exc:
        print(str(exc).rstrip(), file=sys.stderr)
        return exc.code
    return code


def run() -> None:
    """The ``kubectl-dask`` console script."""
    sys.exit(main())
