import pytest
from dask_operator import labels


@pytest.mark.parametrize(
    "key",
    [
        "kopf.zalando.org/last-handled-configuration",
        "kubectl.kubernetes.io/last-applied-configuration",
        "argocd.argoproj.io/tracking-id",
        "kustomize.toolkit.fluxcd.io/name",
        "helm.toolkit.fluxcd.io/name",
        "meta.helm.sh/release-name",
        "app.kubernetes.io/managed-by",
        "kubernetes.dask.org/spec-hash",
    ],
)
def test_tool_owned_keys_are_not_propagated(key):
    assert not labels.is_propagated(key)


@pytest.mark.parametrize("key", ["team", "example.com/owner", "app.kubernetes.io/part-of", "fluxcd.io.example.com/x"])
def test_other_keys_are_propagated(key):
    assert labels.is_propagated(key)


def test_precedence_top_level_then_subresource_then_base():
    inherited = labels.merge_metadata(
        {"labels": {"foo": "bar", "dask.org/component": "superworker"}, "annotations": {"hello": "world", "argocd.argoproj.io/sync-wave": "1"}},
    )
    manifest = {"metadata": {"labels": {"foo": "baz"}, "annotations": {"fizz": "buzz"}}}
    labels.apply_metadata(manifest, inherited, [{"plugin": "yes", "dask.org/cluster-name": "evil"}], labels.base_labels("c", "worker", "c-default"))
    meta = manifest["metadata"]
    assert meta["labels"]["foo"] == "baz"  # sub-resource beats top-level
    assert meta["labels"]["dask.org/component"] == "worker"  # base beats everything
    assert meta["labels"]["dask.org/cluster-name"] == "c"  # plugins cannot override reserved keys
    assert meta["labels"]["plugin"] == "yes"
    assert meta["labels"]["dask.org/workergroup-name"] == "c-default"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "dask-operator"
    assert meta["annotations"] == {"hello": "world", "fizz": "buzz"}


def test_docs_example_scheduler_annotations():
    inherited = labels.merge_metadata({"annotations": {"hello": "world"}})
    pod = {"metadata": {"annotations": {"fizz": "buzz"}}}
    labels.apply_metadata(pod, inherited)
    assert pod["metadata"]["annotations"] == {"fizz": "buzz", "hello": "world"}


def test_selector_is_sorted_and_stable():
    assert labels.selector({"b": "2", "a": "1"}) == "a=1,b=2"
