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
