#!/usr/bin/env python3
"""Generate the four Dask CRDs into chart/crds/ from Kubernetes' official OpenAPI definitions.

    python ci/gen_crds.py            # write chart/crds/*.yaml
    python ci/gen_crds.py --check    # exit 1, with a diff summary, if the committed files differ

The Pod and Service specs embedded in the CRDs come from the core/v1 OpenAPI v3 document of the
Kubernetes version the project targets (KUBERNETES_VERSION): by default from the k8s.io/kubernetes
Go module (`go mod download`, answered from the module cache when present), or with
`--from-apiserver` from the cluster kubectl points at, or from a file with `--openapi`.
The output depends only on that document, so it is byte-for-byte reproducible. The committed
files (and --check) use the Go module; a live apiserver's document differs slightly (it adds
`enum` lists), so use --from-apiserver to inspect, not to regenerate the committed CRDs.

Large CRDs: only the first sentence of each top-level PodSpec/ServiceSpec field description is
kept, so every CRD stays under the 256 KiB annotation limit of client-side `kubectl apply`;
server-side apply (`kubectl apply --server-side`) or Helm has no such limit and is recommended.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script or loaded by path: make siblings importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from crd_openapi import (  # noqa: E402
    Resolver,
    Schema,
    apiserver_openapi,
    go_module_openapi,
    load_definitions,
)

KUBERNETES_VERSION = "1.36.3"
GROUP = "kubernetes.dask.org"
VERSION = "v1"
CATEGORIES = ["dask"]
REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "chart" / "crds"
POD_SPEC = "io.k8s.api.core.v1.PodSpec"
SERVICE_SPEC = "io.k8s.api.core.v1.ServiceSpec"

# Longest DaskCluster name: the scheduler Service "{name}-scheduler" must fit the 63 characters
# of a DNS-1035 label.
MAX_CLUSTER_NAME = 63 - len("-scheduler")
DNS_1035 = "^[a-z]([-a-z0-9]*[a-z0-9])?$"

# Most worker pods one worker group (a DaskCluster's default group, a DaskWorkerGroup, an
# autoscaler's bounds) may ask for. The API server refuses more, so a typo such as
# `replicas: 100000` never reaches the operator; spread larger clusters over several groups.
MAX_WORKERS_PER_GROUP = 10000


def first_sentence(text: str) -> str:
    """The first sentence of a Kubernetes field description."""
    match = re.match(r"(.+?[.:])(?=\s+[A-Z(]|\s*$)", text, re.S)
    return " ".join((match.group(1) if match else text).split())


# --- small schema builders -------------------------------------------------------------------


def rule(expression: str, message: str, **extra: str) -> dict[str, str]:
    """One CEL validation rule with a message that says what is wrong and how to fix it."""
    return {"rule": expression, "message": message, **extra}


def string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def boolean(description: str, default: bool) -> Schema:
    return {"type": "boolean", "description": description, "default": default}


def integer(
    description: str,
    *,
    at_least: int | None = None,
    message: str = "",
    default: int | None = None,
    fmt: str = "int32",
) -> Schema:
    """An integer; ``at_least`` adds a CEL rule that fails with ``message``."""
    schema: Schema = {"type": "integer", "format": fmt, "description": description}
    if default is not None:
        schema["default"] = default
    if at_least is not None:
        schema["x-kubernetes-validations"] = [rule(f"self >= {at_least}", message)]
    return schema


def worker_count(description: str, field: str, *, default: int | None = None) -> Schema:
    """A number of worker pods: 0 to MAX_WORKERS_PER_GROUP, as schema bounds (for tools that
    read the schema) and as CEL rules (for the readable message the API server returns)."""
    schema = integer(
        f"{description} At most {MAX_WORKERS_PER_GROUP}.",
        at_least=0,
        message=f"{field} must be 0 or more workers",
        default=default,
    )
    schema["minimum"] = 0
    schema["maximum"] = MAX_WORKERS_PER_GROUP
    schema["x-kubernetes-validations"].append(
        rule(
            f"self <= {MAX_WORKERS_PER_GROUP}",
            f"{field} must be at most {MAX_WORKERS_PER_GROUP} workers per worker group; "
            "spread more workers over several DaskWorkerGroups",
        )
    )
    return schema


def timestamp(description: str) -> Schema:
    return string(description + " (RFC 3339).", format="date-time")


def string_map(description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string"},
    }


def obj(
    description: str, properties: dict[str, Schema], required: Iterable[str] = (), **extra: Any
) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def described(schema: Schema, description: str) -> Schema:
    """``schema`` with ``description`` placed right after its type, where readers look."""
    rest = {key: value for key, value in schema.items() if key not in ("type", "description")}
    return {"type": schema["type"], "description": description, **rest}


def child_metadata(of: str) -> Schema:
    return obj(
        f"Labels and annotations merged into the {of} (the operator's own labels win).",
        {
            "labels": string_map("Labels to add."),
            "annotations": string_map("Annotations to add."),
        },
    )


def name_rules(kind: str, max_length: int, because: str) -> list[dict[str, str]]:
    """Root rules on metadata.name for kinds whose name becomes part of child names."""
    return [
        rule(
            f"self.metadata.name.size() <= {max_length}",
            f"{kind} names can have at most {max_length} characters because {because}; "
            "choose a shorter metadata.name",
            fieldPath=".metadata.name",
        ),
        rule(
            f"self.metadata.name.matches('{DNS_1035}')",
            f"{kind} names must start with a lowercase letter and contain only lowercase "
            "letters, digits and '-', because the scheduler Service is named after them; "
            "choose another metadata.name",
            fieldPath=".metadata.name",
        ),
    ]


# --- the Dask schemas --------------------------------------------------------------------------


class Schemas:
    """Builds the Dask schemas around the resolved Kubernetes PodSpec and ServiceSpec."""

    def __init__(self, definitions: dict[str, Schema]) -> None:
        # Only the first level of the embedded specs keeps a description, and only its first
        # sentence: enough for `kubectl explain daskcluster.spec.worker.spec`, while DaskJob,
        # which embeds three PodSpecs, stays well under the 256 KiB that client-side
        # `kubectl apply` can store in its last-applied-configuration annotation.
        resolver = Resolver(
            definitions,
            describe=lambda path, text: first_sentence(text) if len(path) == 1 else None,
        )
        self._pod = resolver.resolve(POD_SPEC)
        self._service = resolver.resolve(SERVICE_SPEC)

    def pod_spec(self, description: str, role: str, **field_defaults: Any) -> Schema:
        """A fresh copy of PodSpec, described, requiring a container, with optional defaults."""
        schema = described(copy.deepcopy(self._pod), description)
        for field, value in field_defaults.items():
            schema["properties"][field]["default"] = value
        schema["x-kubernetes-validations"] = [
            rule(
                "self.containers.size() > 0",
                f"the {role} pod spec needs at least one container; add it under containers",
            )
        ]
        return schema

    def service_spec(self, description: str) -> Schema:
        return described(copy.deepcopy(self._service), description)

    def worker(self, what: str, metadata_of: str) -> Schema:
        return obj(
            f"The Dask workers of {what}.",
            {
                "replicas": worker_count(
                    "Number of worker pods (0 stops them all). The scale subresource reads and "
                    "writes this field.",
                    "replicas",
                    default=1,
                ),
                "metadata": child_metadata(metadata_of),
                "spec": self.pod_spec(
                    "PodSpec of every worker pod (core/v1 PodSpec). The operator appends "
                    "DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS to the env of its containers.",
                    "worker",
                ),
            },
            required=["spec"],
        )

    def cluster_spec(self, description: str) -> Schema:
        return obj(
            description,
            {
                "worker": self.worker(
                    "the default worker group ({cluster}-default)",
                    "default DaskWorkerGroup and its worker pods",
                ),
                "scheduler": obj(
                    "The Dask scheduler: a Deployment and a Service named {cluster}-scheduler.",
                    {
                        "metadata": child_metadata("scheduler pod and Service"),
                        "spec": self.pod_spec(
                            "PodSpec of the scheduler pod (core/v1 PodSpec).", "scheduler"
                        ),
                        "service": self.service_spec(
                            "ServiceSpec of the scheduler Service (core/v1 ServiceSpec); it "
                            "should expose ports tcp-comm (8786) and http-dashboard (8787)."
                        ),
                    },
                    required=["spec"],
                ),
                "idleTimeout": integer(
                    "Seconds the scheduler may stay idle before the operator deletes the "
                    "cluster; 0 never deletes it.",
                    at_least=0,
                    message="idleTimeout must be 0 or more seconds (0 keeps an idle cluster running)",
                    default=0,
                ),
            },
            required=["worker", "scheduler"],
        )

    # status -----------------------------------------------------------------------------------

    @staticmethod
    def status(description: str, properties: dict[str, Schema]) -> Schema:
        """A status written by the operator; plugins may merge fields of their own into it."""
        common = {
            "observedGeneration": integer(
                "The metadata.generation the operator last reconciled.", fmt="int64"
            ),
            "conditions": {
                "type": "array",
                "description": "Standard conditions, one per type (e.g. Ready).",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": obj(
                    "One condition.",
                    {
                        "type": string("Condition type, e.g. Ready."),
                        "status": string(
                            "True, False or Unknown.", enum=["True", "False", "Unknown"]
                        ),
                        "reason": string("CamelCase reason for the last transition."),
                        "message": string("Human-readable details."),
                        "lastTransitionTime": timestamp("When the status last changed"),
                        "observedGeneration": integer(
                            "The metadata.generation this condition describes.", fmt="int64"
                        ),
                    },
                    required=["type", "status"],
                ),
            },
        }
        # null is accepted wherever the operator reports something it does not know (yet), so
        # one unknown value never gets a whole status update rejected.
        fields = {name: {**field, "nullable": True} for name, field in properties.items()}
        common["observedGeneration"]["nullable"] = True
        schema = obj(description, {**common, **fields})
        schema["x-kubernetes-preserve-unknown-fields"] = True
        return schema

    @staticmethod
    def workers_count() -> Schema:
        return obj(
            "Worker pod counts.",
            {
                "desired": {**integer("Worker pods wanted."), "nullable": True},
                "ready": {**integer("Worker pods that are ready."), "nullable": True},
            },
        )


# --- the CRDs ----------------------------------------------------------------------------------


def column(
    name: str, path: str, type_: str = "string", description: str = "", priority: int = 0
) -> Schema:
    col: Schema = {"name": name, "type": type_, "jsonPath": path}
    if description:
        col["description"] = description
    if priority:
        col["priority"] = priority
    return col


AGE = column("Age", ".metadata.creationTimestamp", "date")

SCALE = {
    "specReplicasPath": ".spec.worker.replicas",
    "statusReplicasPath": ".status.replicas",
    "labelSelectorPath": ".status.selector",
}


def crd(
    kind: str,
    plural: str,
    short_names: list[str],
    description: str,
    spec: Schema,
    status: Schema,
    columns: list[Schema],
    rules: Iterable[dict[str, str]] = (),
    scale: bool = False,
) -> Schema:
    root: Schema = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            # Root metadata may only declare name (and generateName); declaring name lets the
            # name rules point their errors at metadata.name.
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": spec,
            "status": status,
        },
    }
    if rules:
        root["x-kubernetes-validations"] = list(rules)
    subresources: Schema = {"status": {}}
    if scale:
        subresources["scale"] = dict(SCALE)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": CATEGORIES,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": [*columns, AGE],
                }
            ],
        },
    }


def build_crds(definitions: dict[str, Schema]) -> dict[str, Schema]:
    """Return the four CRDs keyed by file name."""
    s = Schemas(definitions)
    cluster_name_because = "the scheduler Service is named {name}-scheduler and Service names are limited to 63 characters"

    daskcluster = crd(
        "DaskCluster",
        "daskclusters",
        ["dsk"],
        "A Dask cluster: a scheduler Deployment and Service plus a default DaskWorkerGroup.",
        s.cluster_spec("Desired state of the Dask cluster."),
        s.status(
            "Observed state of the Dask cluster, written by the operator.",
            {
                "phase": string("Created, Pending, Running or Error."),
                "workers": s.workers_count(),
                "replicas": integer("Worker pods of the default worker group (scale subresource)."),
                "selector": string(
                    "Label selector of the default group's worker pods (scale subresource)."
                ),
                "schedulerAddress": string("tcp:// address of the scheduler inside the cluster."),
                "dashboardAddress": string(
                    "http:// address of the scheduler dashboard inside the cluster."
                ),
                "dashboardURL": string(
                    "URL of the scheduler dashboard's status page inside the cluster "
                    "(with the dashboard prefix when it is exposed under a path)."
                ),
                "externalDashboardURL": string(
                    "URL of the scheduler dashboard outside the cluster, when the operator "
                    "exposes it (Ingress of the dashboard plugin)."
                ),
                "idleSince": timestamp("When the scheduler became idle"),
                "resources": {
                    "type": "array",
                    "description": (
                        "Extra objects plugins asked for (dask_cluster_resources), owned by this "
                        "cluster: the operator deletes those no plugin wants any more."
                    ),
                    "items": obj(
                        "One object created for a plugin.",
                        {
                            "apiVersion": string("Its apiVersion, e.g. networking.k8s.io/v1."),
                            "kind": string("Its kind, e.g. NetworkPolicy."),
                            "name": string("Its name, in this cluster's namespace."),
                        },
                        required=["apiVersion", "kind", "name"],
                    ),
                },
            },
        ),
        [
            column("Workers", ".status.workers.desired", "integer", "Worker pods wanted"),
            column("Ready", ".status.workers.ready", "integer", "Worker pods ready"),
            column("Phase", ".status.phase"),
        ],
        rules=name_rules("DaskCluster", MAX_CLUSTER_NAME, cluster_name_because),
        scale=True,
    )

    daskworkergroup = crd(
        "DaskWorkerGroup",
        "daskworkergroups",
        ["daskworkers", "dwg"],
        "A homogeneous, scalable group of Dask workers that joins a DaskCluster.",
        obj(
            "Desired state of the worker group.",
            {
                "cluster": string(
                    "Name of the DaskCluster (same namespace) these workers join.",
                    **{
                        "x-kubernetes-validations": [
                            rule(
                                "self.size() > 0",
                                "spec.cluster must name the DaskCluster this worker group joins",
                            )
                        ]
                    },
                ),
                "worker": s.worker("this group", "worker pods"),
            },
            required=["cluster", "worker"],
        ),
        s.status(
            "Observed state of the worker group, written by the operator.",
            {
                "replicas": integer("Worker pods that exist (scale subresource)."),
                "readyReplicas": integer("Worker pods that are ready."),
                "selector": string(
                    "Label selector of this group's worker pods (scale subresource)."
                ),
                "workers": s.workers_count(),
            },
        ),
        [
            column("Cluster", ".spec.cluster"),
            column("Desired", ".spec.worker.replicas", "integer", "Worker pods wanted"),
            column("Ready", ".status.workers.ready", "integer", "Worker pods ready"),
        ],
        rules=[
            rule(
                "self.metadata.name.size() <= 63",
                "DaskWorkerGroup names can have at most 63 characters because they are used as "
                "the value of the dask.org/workergroup-name label; choose a shorter metadata.name",
                fieldPath=".metadata.name",
            )
        ],
        scale=True,
    )

    daskjob = crd(
        "DaskJob",
        "daskjobs",
        ["djb"],
        "A batch job: a runner pod executed to completion next to its own DaskCluster.",
        obj(
            "Desired state of the job.",
            {
                "job": obj(
                    "The runner pod ({job}-runner); it gets DASK_SCHEDULER_ADDRESS in its env.",
                    {
                        "metadata": child_metadata("runner pod"),
                        "spec": _runner_pod_spec(s),
                    },
                    required=["spec"],
                ),
                "cluster": obj(
                    "The DaskCluster created for the job; it is named after the job.",
                    {
                        "metadata": child_metadata("DaskCluster"),
                        "spec": s.cluster_spec(
                            "Spec of the job's DaskCluster (a DaskCluster spec)."
                        ),
                    },
                    required=["spec"],
                ),
                "backoffLimit": integer(
                    "Runner failures tolerated before the job is marked Failed.",
                    at_least=0,
                    message="backoffLimit must be 0 or more retries",
                ),
                "activeDeadlineSeconds": integer(
                    "Seconds the job may run before it is marked Failed.",
                    at_least=1,
                    message="activeDeadlineSeconds must be 1 or more seconds; remove the field for no deadline",
                    fmt="int64",
                ),
                "ttlSecondsAfterFinished": integer(
                    "Seconds after the job finished before the DaskJob is deleted.",
                    at_least=0,
                    message="ttlSecondsAfterFinished must be 0 or more seconds",
                ),
                "suspend": boolean(
                    "Pause the job: no cluster or runner pod is created while true.", False
                ),
                "keepRunnerPod": boolean("Keep the finished runner pod (and its logs).", True),
            },
            required=["job", "cluster"],
        ),
        s.status(
            "Observed state of the job, written by the operator.",
            {
                "jobStatus": string("JobCreated, ClusterCreated, Running, Successful or Failed."),
                "clusterName": string("Name of the job's DaskCluster."),
                "jobRunnerPodName": string("Name of the runner pod."),
                "startTime": timestamp("When the runner started"),
                "endTime": timestamp("When the job finished"),
                "attempts": integer("Runner pod attempts so far."),
                "reason": string("CamelCase reason for the current jobStatus."),
                "message": string("Human-readable details about the current jobStatus."),
            },
        ),
        [
            column("Status", ".status.jobStatus"),
            column(
                "Workers", ".spec.cluster.spec.worker.replicas", "integer", "Worker pods wanted"
            ),
        ],
        rules=name_rules(
            "DaskJob",
            MAX_CLUSTER_NAME,
            "its DaskCluster takes the same name and the scheduler Service is named "
            "{name}-scheduler, limited to 63 characters",
        ),
    )

    daskautoscaler = crd(
        "DaskAutoscaler",
        "daskautoscalers",
        ["das"],
        "Adaptive scaling of a DaskCluster's worker group between a minimum and a maximum.",
        obj(
            "Desired state of the autoscaler.",
            {
                "cluster": string(
                    "Name of the DaskCluster (same namespace) to scale.",
                    **{
                        "x-kubernetes-validations": [
                            rule(
                                "self.size() > 0",
                                "spec.cluster must name the DaskCluster to autoscale",
                            )
                        ]
                    },
                ),
                "minimum": worker_count("Fewest workers to keep.", "minimum", default=0),
                "maximum": worker_count("Most workers to run.", "maximum"),
                "workerGroup": string(
                    "Name of the DaskWorkerGroup to scale; default {cluster}-default."
                ),
                "scaleDownStabilizationSeconds": integer(
                    "Seconds the scheduler's target must stay lower before workers are removed.",
                    at_least=0,
                    message="scaleDownStabilizationSeconds must be 0 or more seconds",
                ),
                "pollIntervalSeconds": integer(
                    "Seconds between two queries of the scheduler's adaptive target.",
                    at_least=1,
                    message="pollIntervalSeconds must be 1 or more seconds",
                ),
            },
            required=["cluster", "maximum"],
            **{
                "x-kubernetes-validations": [
                    rule(
                        "!has(self.minimum) || self.minimum <= self.maximum",
                        "minimum must not be greater than maximum: lower spec.minimum or raise "
                        "spec.maximum",
                    )
                ]
            },
        ),
        s.status(
            "Observed state of the autoscaler, written by the operator.",
            {
                "desiredWorkers": integer(
                    "Workers the autoscaler last asked for (within min/max)."
                ),
                "lastTarget": integer("The scheduler's last adaptive target, before clamping."),
                "lastDecision": string("What the autoscaler last did and why."),
                "lastScaleTime": timestamp("When the autoscaler last changed the worker count"),
            },
        ),
        [
            column("Cluster", ".spec.cluster"),
            column("Min", ".spec.minimum", "integer"),
            column("Max", ".spec.maximum", "integer"),
            column("Target", ".status.desiredWorkers", "integer", "Workers last asked for"),
        ],
    )

    return {
        "daskclusters.yaml": daskcluster,
        "daskworkergroups.yaml": daskworkergroup,
        "daskjobs.yaml": daskjob,
        "daskautoscalers.yaml": daskautoscaler,
    }


def _runner_pod_spec(s: Schemas) -> Schema:
    schema = s.pod_spec(
        "PodSpec of the runner pod (core/v1 PodSpec); restartPolicy defaults to OnFailure.",
        "job runner",
        restartPolicy="OnFailure",
    )
    schema["x-kubernetes-validations"].append(
        rule(
            "!has(self.restartPolicy) || self.restartPolicy != 'Always'",
            "a job runner pod must be able to finish: set restartPolicy to OnFailure or Never",
        )
    )
    return schema


# --- output ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with no line wrapping, no anchors/aliases for shared values, and quotes
    around strings that YAML 1.1 parsers read as booleans."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if value.lower() in {"y", "n", "yes", "no", "on", "off", "true", "false"}:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def render(crd_obj: Schema, kubernetes_version: str) -> str:
    header = (
        f"# Generated by ci/gen_crds.py from the Kubernetes v{kubernetes_version} OpenAPI "
        "definitions. Do not edit: change the script and rerun it.\n"
    )
    body = yaml.dump(crd_obj, Dumper=_Dumper, sort_keys=False, width=1 << 16, allow_unicode=True)
    return header + body


def generate(document: dict[str, Any], kubernetes_version: str) -> dict[str, str]:
    """File name -> YAML text of every CRD, from a core/v1 OpenAPI v3 document."""
    crds = build_crds(load_definitions(document))
    return {name: render(obj_, kubernetes_version) for name, obj_ in crds.items()}


def check(files: dict[str, str], directory: Path) -> list[str]:
    """Return a summary of every difference between ``files`` and ``directory``; empty if none."""
    problems = []
    for name, text in sorted(files.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        current = path.read_text()
        if current != text:
            diff = list(
                difflib.unified_diff(current.splitlines(), text.splitlines(), lineterm="", n=0)
            )
            changed = sum(1 for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
            head = "\n".join("    " + line for line in diff[2:14])
            problems.append(
                f"{path}: {changed} line(s) differ from the generator's output:\n{head}"
            )
    for path in sorted(directory.glob("*.yaml")):
        if path.name not in files:
            problems.append(f"{path}: not produced by the generator")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files instead of writing"
    )
    parser.add_argument(
        "--kubernetes-version", default=KUBERNETES_VERSION, help="k8s.io/kubernetes module version"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--openapi", type=Path, help="a core/v1 OpenAPI v3 JSON file to read instead"
    )
    source.add_argument(
        "--from-apiserver",
        metavar="KUBECTL",
        nargs="?",
        const="kubectl",
        help="read /openapi/v3/api/v1 through kubectl (its current context) instead",
    )
    parser.add_argument(
        "--out", type=Path, default=CRD_DIR, help="CRD directory (default chart/crds)"
    )
    args = parser.parse_args(argv)

    if args.openapi:
        document = json.loads(args.openapi.read_text())
    elif args.from_apiserver:
        document = apiserver_openapi(args.from_apiserver)
    else:
        document = json.loads(go_module_openapi(args.kubernetes_version).read_text())
    files = generate(document, args.kubernetes_version)

    if args.check:
        problems = check(files, args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("CRDs are out of date: run `python ci/gen_crds.py`", file=sys.stderr)
            return 1
        print(f"{len(files)} CRDs in {args.out} are up to date")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
