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


def test_missing_metadata():
    desired = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    current = {"metadata": {"labels": {"a": "1", "b": "3", "extra": "kept"}}}
    assert children.missing_metadata(desired, current) == {"labels": {"b": "2"}, "annotations": {"x": "y"}}
