"""End-to-end fixtures: the chart installed with the real `helm` into the local cluster.

`operator_release` installs the chart once per test run (CRDs applied server-side first, the way
the chart README tells users to upgrade them), waits until the operator pod is Running and
answering its liveness probe, and uninstalls it after the last end-to-end test, before any
integration test (which runs its own operator) starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The chart unit tests' helpers (finding helm, rendering the chart) are shared with these tests;
# chart_release sits next to this file. Importable whatever pytest's --import-mode.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "chart"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chart_helpers import find_helm  # noqa: E402
from chart_release import (  # noqa: E402
    ACTIVE,
    E2E_DIR,
    RELEASE,
    RELEASE_NAMESPACE,
    Release,
    apply_crds,
    create_run_namespace,
    remove_stale_releases,
    teardown_active,
)


@pytest.fixture(scope="session")
def helm_binary() -> str:
    return find_helm()


@pytest.fixture(scope="session")
def operator_release(k8s: Any, helm_binary: str) -> Iterator[Release]:
    """The chart installed with default values (cluster-wide), once per test run."""
    remove_stale_releases(k8s, helm_binary)
    apply_crds(k8s.kubectl)
    create_run_namespace(k8s, RELEASE_NAMESPACE)
    release = Release(RELEASE, RELEASE_NAMESPACE, k8s, helm_binary)
    # On a cluster shared with other developers' operators, confine this one, e.g.
    # DASK_E2E_KOPF_ARGS="--namespace=t-test-docs-*" (CI leaves it unset: the docs' default).
    kopf_args = os.environ.get("DASK_E2E_KOPF_ARGS")
    if kopf_args:
        release.values = ["--set", f"kopfArgs={{{kopf_args}}}"]
    ACTIVE.append(release)
    release.install()
    yield release
    teardown_active()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Uninstall after the last end-to-end test: integration tests run their own operator, and
    two operators must never reconcile the same objects."""
    if nextitem is None or E2E_DIR not in Path(str(nextitem.path)).parents:
        teardown_active()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed end-to-end test shows what the chart's operator logged while it ran."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for release in ACTIVE:
        try:
            report.sections.append((f"operator {release.namespace}/{release.name} logs (tail)",
                                    release.logs(tail=80)))
        except Exception as err:  # noqa: BLE001 - diagnostics must not hide the real failure
            report.sections.append(("operator logs", f"could not collect: {err!r}"))


@pytest.fixture(autouse=True)
def patient_resource_timeout() -> Iterator[None]:
    """KubeCluster's default 60 s resource_timeout, raised for the e2e run: on the 2-core CI
    machine the whole control plane, the operator pod and every Dask process share two cores.
    Tests of the timeout itself pass resource_timeout explicitly."""
    import dask.config

    with dask.config.set({"kubernetes.resource-timeout": 180}):
        yield
