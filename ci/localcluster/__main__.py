"""`python -m localcluster up|down|status|agent` (run with PYTHONPATH=ci; see ci/cluster)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import controlplane, kwok
from .config import NODE_KIND_ENV, NODE_KINDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci/cluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local cluster (idempotent); prints `export KUBECONFIG=...`")
    up.add_argument("--fake-nodes", type=int, default=None, metavar="N",
                    help=f"also run kwok with N simulated nodes (default ${kwok.ENV} or 0)")
    up.add_argument("--node", choices=NODE_KINDS, default=None,
                    help=f"which node runs the pods (default ${NODE_KIND_ENV} or process); "
                         "real: kubelet + containerd + kube-proxy + CoreDNS")
    sub.add_parser("down", help="stop everything and remove namespaces, bridge, addresses")
    sub.add_parser("status", help="say what runs")
    sub.add_parser("restart-agent", help="restart the process kubelet + service proxy (and so every pod)")
    stop = sub.add_parser("stop", help="stop one component (to test an outage); `up` starts it again")
    stop.add_argument("component", choices=controlplane.COMPONENTS)
    agent = sub.add_parser("agent", help="(internal) run the process kubelet and service proxy")
    agent.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            if args.node:  # also read by ci/build-tools.sh, which then builds the real node
                os.environ[NODE_KIND_ENV] = args.node
            try:
                fake_nodes = kwok.requested_nodes(args.fake_nodes)
            except ValueError as err:
                raise controlplane.ClusterError(str(err)) from None
            cfg = controlplane.up(fake_nodes)
            print(f"export KUBECONFIG={cfg.kubeconfig}")
            return 0
        if args.command == "down":
            controlplane.down()
            return 0
        if args.command == "status":
            return controlplane.status()
        if args.command == "restart-agent":
            controlplane.restart_agent()
            return 0
        if args.command == "stop":
            if not controlplane.stop_component(args.component):
                print(f"{args.component} was not running", file=sys.stderr)
            return 0
        from . import agent as agent_mod

        agent_mod.run(args.state)
        return 0
    except controlplane.ClusterError as err:
        print(f"ci/cluster {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
