"""How long the pure part of a DaskCluster pass takes: every hook that builds the scheduler
Deployment and Service, the worker group, its worker Pods, plugin resources and status, run
through the core's own code (``dask_operator.testing.render_cluster``). No Kubernetes API.

Prints milliseconds per pass for clusters of growing size, with the built-in plugins alone and
with every installed plugin. Usage: ``python benchmarks/render.py [--iterations N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dask_operator.errors import PluginError
from dask_operator.pluginmanager import PluginManager
from dask_operator.testing import (
    installed_plugins,
    make_cluster,
    make_plugin_manager,
    render_cluster,
)

SIZES = (1, 10, 100)


def time_renders(pm: PluginManager, workers: int, iterations: int) -> list[float]:
    cluster = make_cluster("bench", workers=workers)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        rendered = render_cluster(pm, cluster)
        samples.append((time.perf_counter() - start) * 1000)
        assert rendered.valid, rendered.errors
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50, help="renders per configuration (default 50)")
    args = parser.parse_args()
    configurations = {"built-ins": make_plugin_manager()}
    installed = sorted(installed_plugins())
    if installed:
        print(f"installed plugins: {', '.join(installed)}")
        try:
            configurations[f"built-ins + {len(installed)} installed"] = make_plugin_manager(entry_points=True)
        except PluginError as exc:  # measure what loads; say why the rest is missing
            print(f"(not measuring installed plugins: {exc})")
    print(f"{'plugins':<24} {'workers':>7} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
    for label, pm in configurations.items():
        for workers in SIZES:
            samples = sorted(time_renders(pm, workers, args.iterations))
            p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
            print(f"{label:<24} {workers:>7} {statistics.median(samples):>10.2f} {p90:>8.2f} {samples[0]:>8.2f}")


if __name__ == "__main__":
    main()
