from dask_operator import status as st


def pod(name, phase="Running", ready=True, group="c-default", deleting=False):
    meta = {"name": name, "labels": {"dask.org/workergroup-name": group}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def deployment(ready=1, generation=1, observed=1):
    return {"metadata": {"generation": generation}, "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": 1}}


def group(replicas, name="c-default"):
    return {"metadata": {"name": name}, "spec": {"worker": {"replicas": replicas}}}


def cond(status, type_):
    return next(c for c in status["conditions"] if c["type"] == type_)


def compute(**kw):
    args = dict(generation=3, deployment=deployment(), worker_groups=[group(2)], worker_pods=[pod("a"), pod("b")],
                default_group="c-default", default_selector="sel", scheduler_address="tcp://x", dashboard_address="http://x")
    args.update(kw)
    return st.cluster_status(**args)


def test_running_and_ready_when_scheduler_and_workers_ready():
    status = compute()
    assert status["phase"] == "Running"
    assert cond(status, "Ready")["status"] == "True"
    assert status["workers"] == {"desired": 2, "ready": 2}
    assert status["replicas"] == 2 and status["selector"] == "sel"
    assert status["observedGeneration"] == 3


def test_pending_until_the_scheduler_deployment_is_ready():
    status = compute(deployment=deployment(ready=0))
    assert status["phase"] == "Pending"
    assert cond(status, "SchedulerReady")["status"] == "False"
    assert cond(status, "Ready")["status"] == "False"
    # a Deployment that has not observed its latest spec is not ready either
    assert compute(deployment=deployment(generation=2, observed=1))["phase"] == "Pending"
    assert compute(deployment=None)["phase"] == "Pending"


def test_workers_not_ready_keeps_ready_false_but_phase_running():
    status = compute(worker_pods=[pod("a"), pod("b", ready=False), pod("c", deleting=True)])
    assert status["phase"] == "Running"
    assert cond(status, "WorkersReady")["status"] == "False"
    assert status["workers"] == {"desired": 2, "ready": 1}


def test_desired_counts_every_group_and_replicas_only_the_default_group():
    status = compute(worker_groups=[group(2), group(3, "c-extra")], worker_pods=[pod("a"), pod("b"), pod("x", group="c-extra")])
    assert status["workers"]["desired"] == 5
    assert status["replicas"] == 2


def test_merge_conditions_keeps_transition_time_when_status_unchanged():
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}, {"type": "Plugin", "status": "True"}]
    merged = st.merge_conditions(old, [st.condition("Ready", True, "Ready"), st.condition("SchedulerReady", False, "No")], "t1")
    by_type = {c["type"]: c for c in merged}
    assert by_type["Ready"]["lastTransitionTime"] == "t0"
    assert by_type["SchedulerReady"]["lastTransitionTime"] == "t1"
    assert "Plugin" in by_type  # other writers' conditions survive
    flipped = st.merge_conditions(merged, [st.condition("Ready", False, "Broken")], "t2")
    assert {c["type"]: c for c in flipped}["Ready"]["lastTransitionTime"] == "t2"


def test_invalid_cluster_status():
    status = st.invalid_cluster_status(4, ["name too long"])
    assert status["phase"] == "Error"
    assert cond(status, "Ready")["reason"] == "InvalidSpec"
    assert "name too long" in cond(status, "Ready")["message"]


def test_deep_merge_of_plugin_fragments():
    merged = st.deep_merge({"workers": {"desired": 1}, "conditions": [{"type": "Ready", "status": "True"}]},
                           {"workers": {"extra": 2}, "conditions": [{"type": "TLS", "status": "False"}], "x": 1})
    assert merged["workers"] == {"desired": 1, "extra": 2}
    assert [c["type"] for c in merged["conditions"]] == ["Ready", "TLS"]


def test_worker_group_status():
    s = st.worker_group_status(generation=2, desired=3, pods=[pod("a"), pod("b"), pod("c", ready=False)], outdated=0, selector="s")
    assert (s["replicas"], s["readyReplicas"]) == (3, 2)
    assert cond(s, "Ready")["status"] == "False"
    blocked = st.worker_group_status(generation=2, desired=1, pods=[pod("a"), pod("b")], outdated=0, selector="s", blocked="down")
    assert cond(blocked, "ScaleDownBlocked")["status"] == "True"
    assert cond(blocked, "Ready")["reason"] == "ScalingDown"


def test_cluster_missing_status():
    s = st.cluster_missing_status(1, "nope", "ns")
    assert cond(s, "ClusterFound")["status"] == "False"
    assert "nope" in cond(s, "ClusterFound")["message"]
