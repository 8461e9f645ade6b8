import copy

from dask_operator import children, labels, names


def test_spec_hash_ignores_labels_annotations_and_name():
    pod = {"metadata": {"name": "g-worker-aaaaaaaaaa", "labels": {"a": "1"}}, "spec": {"containers": [{"env": [{"name": "N", "value": "g-worker-aaaaaaaaaa"}]}]}}
    other = copy.deepcopy(pod)
    other["metadata"]["name"] = "g-worker-bbbbbbbbbb"
    other["metadata"]["labels"] = {"b": "2"}
    other["spec"]["containers"][0]["env"][0]["value"] = "g-worker-bbbbbbbbbb"
    assert children.spec_hash(pod, "g-worker-aaaaaaaaaa") == children.spec_hash(other, "g-worker-bbbbbbbbbb")
    other["spec"]["containers"][0]["image"] = "new"
    assert children.spec_hash(pod, "g-worker-aaaaaaaaaa") != children.spec_hash(other, "g-worker-bbbbbbbbbb")


def test_spec_hash_ignores_template_metadata_so_labels_do_not_restart_the_scheduler():
    dep = {"metadata": {"name": "s"}, "spec": {"template": {"metadata": {"labels": {"x": "1"}}, "spec": {"containers": []}}}}
    relabelled = copy.deepcopy(dep)
    relabelled["spec"]["template"]["metadata"]["labels"]["y"] = "2"
    assert children.spec_hash(dep) == children.spec_hash(relabelled)


def test_finalize_sets_labels_owner_hash_and_runs_modify_manifest(pm, cluster):
    cluster["metadata"]["labels"] = {"team": "data", "argocd.argoproj.io/instance": "app"}
    deployment = pm.hook.dask_scheduler_build_deployment(cluster=cluster)
    children.finalize(deployment, pm=pm, cluster=cluster, component=names.COMPONENT_SCHEDULER,
                      inherited=labels.merge_metadata(cluster["metadata"]), owner=cluster)
    meta = deployment["metadata"]
    assert meta["ownerReferences"][0]["uid"] == "uid-1" and meta["ownerReferences"][0]["controller"] is True
    assert meta["labels"]["team"] == "data" and "argocd.argoproj.io/instance" not in meta["labels"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert template_labels["dask.org/component"] == "scheduler" and template_labels["team"] == "data"
    assert set(deployment["spec"]["selector"]["matchLabels"].items()) <= set(template_labels.items())
    assert meta["annotations"][names.ANNOTATION_SPEC_HASH] == children.spec_hash(deployment)
    # dask_modify_manifest ran: the legacy CLI shim rewrote the docs' `dask-scheduler`
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["dask", "scheduler"]


def test_metadata_changes_sets_missing_and_different_keys_and_leaves_others_alone():
    desired = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    current = {"metadata": {"labels": {"a": "1", "b": "3", "extra": "kept"}}}
    assert children.metadata_changes(desired, current) == {"labels": {"b": "2"}, "annotations": {"x": "y"}}


def test_metadata_changes_removes_keys_the_operator_set_before_and_no_longer_wants():
    before = {"metadata": {"labels": {"team": "a", "sidecar.istio.io/inject": "true"}, "annotations": {"note": "n"}}}
    children.record_managed_metadata(before)
    live = copy.deepcopy(before)
    live["metadata"]["labels"]["pod-template-hash"] = "abc"  # added by someone else
    after = {"metadata": {"labels": {"team": "a"}, "annotations": {}}}
    children.record_managed_metadata(after)
    changes = children.metadata_changes(after, live)
    assert changes["labels"] == {"sidecar.istio.io/inject": None}
    assert changes["annotations"]["note"] is None
    assert changes["annotations"][names.ANNOTATION_MANAGED_METADATA] == after["metadata"]["annotations"][names.ANNOTATION_MANAGED_METADATA]
    live["metadata"]["labels"].pop("sidecar.istio.io/inject")
    live["metadata"]["annotations"] = dict(after["metadata"]["annotations"])
    assert children.metadata_changes(after, live) == {}


def test_metadata_changes_without_a_record_or_with_a_broken_one_removes_nothing():
    desired = {"metadata": {"labels": {"a": "1"}}}
    assert children.metadata_changes(desired, {"metadata": {"labels": {"a": "1", "old": "x"}}}) == {}
    broken = {"metadata": {"labels": {"a": "1", "old": "x"},
                           "annotations": {names.ANNOTATION_MANAGED_METADATA: "not json"}}}
    assert children.metadata_changes(desired, broken) == {}


def test_finalize_records_the_keys_it_set_on_the_child_and_its_pod_template(pm, cluster):
    cluster["metadata"]["labels"] = {"team": "data"}
    deployment = pm.hook.dask_scheduler_build_deployment(cluster=cluster)
    children.finalize(deployment, pm=pm, cluster=cluster, component=names.COMPONENT_SCHEDULER,
                      inherited=labels.merge_metadata(cluster["metadata"]), owner=cluster)
    for meta in (deployment["metadata"], deployment["spec"]["template"]["metadata"]):
        assert "team" in children.managed_keys({"metadata": meta}, "labels")
        assert names.ANNOTATION_SPEC_HASH not in children.managed_keys({"metadata": meta}, "annotations")


def test_pod_metadata_set_by_dask_modify_manifest_is_hashed_and_other_metadata_is_not(pm, cluster):
    from dask_operator.hookspecs import hookimpl

    class Injector:
        @hookimpl
        def dask_modify_manifest(self, cluster, component, manifest):
            if component == names.COMPONENT_SCHEDULER and manifest["kind"] == "Deployment":
                manifest["spec"]["template"]["metadata"]["labels"]["inject"] = "true"

    def scheduler_hash(labels_on_cluster):
        cluster["metadata"]["labels"] = labels_on_cluster
        deployment = pm.hook.dask_scheduler_build_deployment(cluster=cluster)
        children.finalize(deployment, pm=pm, cluster=cluster, component=names.COMPONENT_SCHEDULER,
                          inherited=labels.merge_metadata(cluster["metadata"]), owner=cluster)
        return deployment["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH]

    plain = scheduler_hash({"team": "a"})
    assert scheduler_hash({"team": "b"}) == plain  # user labels change in place
    pm.register(Injector(), name="injector")
    assert scheduler_hash({"team": "a"}) != plain  # the plugin's pod label re-creates the pod
    assert scheduler_hash({"team": "b"}) == scheduler_hash({"team": "a"})


def test_plugin_pod_metadata_lists_additions_changes_and_removals():
    before = {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "1"}}
    after = {"labels": {"a": "1", "b": "3", "c": "4"}, "annotations": {}}
    assert children.plugin_pod_metadata(before, after) == {
        "labels": {"b": "3", "c": "4"}, "annotations": {"x": None}}
    assert children.plugin_pod_metadata(None, after) == {}
