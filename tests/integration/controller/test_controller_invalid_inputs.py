"""Every case of the catalogue (``invalid_inputs.py``) gets its answer: a named condition on the
object the user applied and a Warning Event. All cases are applied at once to one namespace
served by one operator, as a cluster admin would meet them; each is then checked on its own."""

from __future__ import annotations

import copy
import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dask_operator.testing import run_operator, wait_for
from invalid_inputs import CASES, Answer

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
ANSWER_TIMEOUT = 120  # all cases share two CPUs; most answer within a few seconds


def examples(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(yaml.safe_load((REPO / "examples" / name).read_text()))
    obj["metadata"].pop("namespace", None)
    return obj


class Snapshot:
    """What every case's object and the namespace's Warning Events look like, read with one
    kubectl call and shared by the cases until it is a second old (the cases run one by one)."""

    def __init__(self, k8s: Any, namespace: str) -> None:
        self.k8s, self.namespace = k8s, namespace
        self.taken = 0.0
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.warnings: dict[str, set[str]] = {}

    def refresh(self) -> None:
        if time.monotonic() - self.taken < 1:
            time.sleep(1)
        items = json.loads(self.k8s.kubectl(
            "get", "daskclusters,daskworkergroups,daskjobs,daskautoscalers,events", "-n", self.namespace, "-o", "json",
        ).stdout)["items"]
        self.taken = time.monotonic()
        self.objects = {(o["kind"].lower(), o["metadata"]["name"]): o for o in items if o["kind"] != "Event"}
        self.warnings = {}
        for event in (o for o in items if o["kind"] == "Event" and o["type"] == "Warning"):
            self.warnings.setdefault(event["involvedObject"]["name"], set()).add(event["reason"])

    def observe(self, answer: Answer) -> tuple[dict[str, Any] | None, set[str]]:
        obj = self.objects.get((answer.kind, answer.name)) or {}
        condition = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == answer.condition), None)
        return condition, self.warnings.get(answer.name, set())


@pytest.fixture(scope="module")
def catalogue(k8s: Any, crds: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    """A namespace holding every case, served by one operator; deleted afterwards."""
    namespace = f"t-invalid-inputs-{uuid.uuid4().hex[:6]}"
    k8s.kubectl("create", "namespace", namespace)
    k8s.kubectl("label", "namespace", namespace, "dask.org/test-namespace=true")
    wait_for(lambda: k8s.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0,
             timeout=60, interval=0.2, message="the default ServiceAccount")
    operator = run_operator(namespace, log_dir=tmp_path_factory.mktemp("operator"))
    try:
        objects = [obj for build in CASES.values() for obj in build(examples)[0]]
        k8s.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))
        yield Snapshot(k8s, namespace)
    finally:
        code = operator.stop()
        k8s.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert code == 0, operator.log()[-4000:]
    assert "Traceback" not in operator.log(), "the operator logged a traceback"


@pytest.mark.parametrize("case", CASES)
def test_every_invalid_input_gets_its_answer(catalogue: Snapshot, case: str) -> None:
    _, answer = CASES[case](examples)
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        condition, events = catalogue.observe(answer)
        got = condition and (condition["status"], condition.get("reason"))
        if (got == (answer.status, answer.reason) and answer.message in (condition or {}).get("message", "")
                and answer.event_reason in events):
            break
        assert time.monotonic() < deadline, (
            f"{case}: wanted {answer.kind}/{answer.name} {answer.condition}={answer.status} ({answer.reason}, "
            f"message with {answer.message!r}) and a {answer.event_reason} Warning Event; "
            f"got {condition} and Warning Events {sorted(events)}"
        )
        catalogue.refresh()
    assert condition is not None and condition.get("message"), "the condition says why"


def test_with_the_crd_cases_the_catalogue_has_at_least_60_inputs() -> None:
    path = REPO / "tests" / "integration" / "crds" / "test_crds_apply.py"
    spec = importlib.util.spec_from_file_location("crd_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(CASES) + len(module.REJECTED) >= 60
