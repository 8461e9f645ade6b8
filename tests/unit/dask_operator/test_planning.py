from typing import Any

from dask_operator import planning
from dask_operator.planning import WorkerPod, plan_workers


def wp(name, phase="Running", ready=True, outdated=False, created="2026-01-01T00:00:00Z"):
    return WorkerPod(name=name, uid=name, phase=phase, ready=ready, outdated=outdated, created=created)


def test_creates_missing_workers():
    plan = plan_workers([wp("a")], [], replicas=3, max_surge=2)
    assert plan.create == 2 and plan.retire == 0 and plan.delete == []


def test_finished_pods_are_deleted_and_replaced():
    plan = plan_workers([wp("a")], ["dead"], replicas=2, max_surge=2)
    assert plan.delete == ["dead"] and plan.create == 1


def test_scale_down_removes_pending_pods_first_then_retires():
    pods = [wp("a"), wp("b"), wp("p1", phase="Pending", ready=False, created="2026-01-01T00:00:01Z"),
            wp("p2", phase="Pending", ready=False, created="2026-01-01T00:00:02Z")]
    plan = plan_workers(pods, [], replicas=3, max_surge=2)
    assert plan.delete == ["p2"] and plan.retire == 0 and plan.create == 0
    plan = plan_workers(pods, [], replicas=1, max_surge=2)
    assert sorted(plan.delete) == ["p1", "p2"]
    assert plan.retire == 1 and {p.name for p in plan.candidates} == {"a", "b"}


def test_scale_to_zero_retires_everything():
    plan = plan_workers([wp("a"), wp("b")], [], replicas=0, max_surge=1)
    assert plan.retire == 2 and plan.create == 0


def test_rolling_update_surges_first_then_retires_outdated():
    outdated = [wp("o1", outdated=True), wp("o2", outdated=True), wp("o3", outdated=True)]
    step1 = plan_workers(outdated, [], replicas=3, max_surge=1)
    assert step1.create == 1 and step1.retire == 0 and step1.outdated == 3
    # one new pod, not ready yet: nothing retired, no more surge
    step2 = plan_workers(outdated + [wp("n1", ready=False)], [], replicas=3, max_surge=1)
    assert step2.create == 0 and step2.retire == 0
    # the new pod is ready: one outdated worker may go
    step3 = plan_workers(outdated + [wp("n1")], [], replicas=3, max_surge=1)
    assert step3.retire == 1 and {p.name for p in step3.candidates} == {"o1", "o2", "o3"}
    # once an outdated one is gone there is room for the next new pod
    step4 = plan_workers(outdated[1:] + [wp("n1")], [], replicas=3, max_surge=1)
    assert step4.create == 1 and step4.retire == 0


def test_outdated_pods_not_running_are_replaced_at_once():
    plan = plan_workers([wp("o", phase="Pending", ready=False, outdated=True)], [], replicas=1, max_surge=1)
    assert plan.delete == ["o"] and plan.create == 1


def test_converged_plan_is_idle():
    assert plan_workers([wp("a"), wp("b")], [], replicas=2, max_surge=1).idle


# --- plan_child: children applied whole ------------------------------------------------------------


def child(spec_hash: str = "h1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "c-scheduler", "namespace": "ns", "uid": "svc", "annotations": {"kubernetes.dask.org/spec-hash": spec_hash},
                     "labels": {"a": "1"}, "ownerReferences": [{"uid": "owner", "controller": True, "kind": "DaskCluster", "name": "c"}], **meta},
        "spec": {"ports": [{"port": 8786}]},
    }


def test_plan_child_creates_what_is_missing_and_keeps_what_matches() -> None:
    assert planning.plan_child(child(), None, "owner", applied_hash=None).action == planning.CREATE
    live = child()
    assert planning.plan_child(child(), live, "owner", applied_hash=planning.live_spec_hash(live)).action == planning.KEEP
    assert planning.plan_child(child(), live, "owner", applied_hash=None).action == planning.KEEP


def test_plan_child_updates_a_changed_desired_spec_and_repairs_an_edited_live_one() -> None:
    assert planning.plan_child(child("h2"), child("h1"), "owner", applied_hash=None).action == planning.UPDATE
    assert planning.plan_child(child(), child(), "owner", applied_hash=None, force_apply=True).action == planning.UPDATE
    applied = planning.live_spec_hash(child())
    edited = child()
    edited["spec"]["ports"][0]["port"] = 1
    assert planning.plan_child(child(), edited, "owner", applied_hash=applied).action == planning.REPAIR


def test_plan_child_patches_metadata_only_and_waits_for_foreign_or_terminating_children() -> None:
    desired = child()
    desired["metadata"]["labels"]["team"] = "data"
    plan = planning.plan_child(desired, child(), "owner", applied_hash=None)
    assert plan.action == planning.PATCH_METADATA and plan.metadata["labels"] == {"team": "data"}
    plan = planning.plan_child(child(), child(), "another-owner", applied_hash=None)
    assert plan.action == planning.WAIT and "controlled by DaskCluster 'c'" in plan.reason
    assert planning.plan_child(child(), child(deletionTimestamp="now"), "owner", applied_hash=None).action == planning.WAIT


# --- worker_group_conflict: never re-own a group that belongs elsewhere ------------------------------


def group(name: str, cluster: str, owner: tuple[str, str] | None = None) -> dict[str, Any]:
    refs = [{"kind": "DaskCluster", "name": owner[0], "uid": owner[1], "controller": True}] if owner else []
    return {"metadata": {"name": name, "ownerReferences": refs}, "spec": {"cluster": cluster}}


def test_a_group_owned_by_another_existing_cluster_conflicts() -> None:
    existing = {"dupa": "uid-a", "dupb": "uid-b"}.get
    reason = planning.worker_group_conflict(group("g", "dupb", ("dupa", "uid-a")), "uid-b", existing)
    assert reason and "controlled by DaskCluster 'dupa'" in reason
    # the owner is gone (or was a namesake with another uid): adopting is fine
    assert planning.worker_group_conflict(group("g", "dupb", ("dupa", "old-uid")), "uid-b", existing) is None
    assert planning.worker_group_conflict(group("g", "dupb", ("dupb", "uid-b")), "uid-b", existing) is None


def test_a_group_named_like_another_clusters_default_group_conflicts() -> None:
    existing = {"dupa": "uid-a", "dupb": "uid-b"}.get
    reason = planning.worker_group_conflict(group("dupa-default", "dupb"), "uid-b", existing)
    assert reason and "default worker group name of DaskCluster 'dupa'" in reason
    assert planning.worker_group_conflict(group("dupa-default", "dupa"), "uid-a", existing) is None
    assert planning.worker_group_conflict(group("gone-default", "dupb"), "uid-b", existing) is None
