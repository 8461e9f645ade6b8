"""Client-side name rules, checked before any API call."""

from __future__ import annotations

import getpass
import re
import uuid

from dask_kubernetes.operator.kubecluster.errors import InvalidNameError

#: DaskCluster names: a DNS-1035 label short enough for the ``-scheduler`` suffix (63 - 10).
MAX_CLUSTER_NAME_LENGTH = 53
#: Worker groups are named ``{cluster}-{group}`` and used as label values (63 characters).
MAX_WORKER_GROUP_NAME_LENGTH = 63

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _problem(name: object, pattern: re.Pattern[str], first: str, limit: int) -> str | None:
    if not isinstance(name, str) or not name:
        return "it must be a non-empty string"
    if len(name) > limit:
        return f"it is {len(name)} characters long; the limit is {limit}"
    if not pattern.match(name):
        return (
            f"it must consist of lower case letters, digits and '-', start with {first} "
            "and end with a letter or digit"
        )
    return None


def cluster_name_problem(name: object) -> str | None:
    """Why *name* cannot name a DaskCluster, or None if it can."""
    return _problem(name, _DNS_1035, "a letter", MAX_CLUSTER_NAME_LENGTH)


def worker_group_name_problem(cluster_name: str, group: object) -> str | None:
    """Why *group* cannot name a worker group of *cluster_name*, or None if it can."""
    if not isinstance(group, str) or not group:
        return "it must be a non-empty string"
    return _problem(
        f"{cluster_name}-{group}",
        _DNS_1123_LABEL,
        "a letter or digit",
        MAX_WORKER_GROUP_NAME_LENGTH,
    )


def validate_cluster_name(name: object) -> str:
    """Return *name* if Kubernetes accepts it for a DaskCluster, else raise InvalidNameError."""
    problem = cluster_name_problem(name)
    if problem:
        raise InvalidNameError(
            f"Invalid Dask cluster name {name!r}: {problem} "
            f"(a DNS-1035 label of at most {MAX_CLUSTER_NAME_LENGTH} characters, e.g. 'my-cluster')."
        )
    assert isinstance(name, str)
    return name


def validate_worker_group_name(cluster_name: str, group: object) -> str:
    """Return *group* if ``{cluster_name}-{group}`` is a valid worker group name, else raise."""
    problem = worker_group_name_problem(cluster_name, group)
    if problem:
        raise InvalidNameError(
            f"Invalid worker group name {group!r} for cluster {cluster_name!r}: the "
            f"DaskWorkerGroup {cluster_name}-{group} would be invalid because {problem}."
        )
    assert isinstance(group, str)
    return group


def default_cluster_name(template: str, user: str | None = None, uid: str | None = None) -> str:
    """Fill ``{user}`` and ``{uuid}`` into *template* and make the result a valid cluster name."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
            user = "user"
    uid = uid or uuid.uuid4().hex[:10]
    name = template.format(user=user, uuid=uid).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", name)
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if not name or not name[0].isalpha():
        name = f"dask-{name}".strip("-")
    if len(name) > MAX_CLUSTER_NAME_LENGTH:
        # Keep a trailing unique suffix: it is what tells generated names apart.
        suffix = f"-{uid}" if name.endswith(f"-{uid}") else ""
        name = name[: MAX_CLUSTER_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
    return name
