"""Unit tests with the operator's testing kit (fixtures from ``dask_operator.testing``)."""

from dask_operator_minimal import plugin

COST_CENTER = plugin.COST_CENTER


def test_every_child_gets_the_cost_center_label(dask_plugin_manager, dask_cluster, dask_render):
    pm = dask_plugin_manager(plugin)
    rendered = dask_render(pm, dask_cluster(annotations={COST_CENTER: "research-42"}, workers=2))
    kinds = sorted({child["kind"] for child in rendered.children()})
    assert kinds == ["DaskWorkerGroup", "Deployment", "Pod", "PodDisruptionBudget", "Service"]
    for child in rendered.children():
        assert child["metadata"]["labels"][COST_CENTER] == "research-42", child["metadata"]["name"]
    # the scheduler Pods get it through the Deployment's template
    assert rendered.deployment["spec"]["template"]["metadata"]["labels"][COST_CENTER] == "research-42"


def test_clusters_without_the_annotation_are_left_alone(dask_plugin_manager, dask_cluster, dask_render):
    with_plugin = dask_render(dask_plugin_manager(plugin), dask_cluster())
    without_plugin = dask_render(dask_plugin_manager(), dask_cluster())
    assert with_plugin.children() == without_plugin.children()


def test_reserved_labels_cannot_be_taken_over(dask_plugin_manager, dask_cluster, dask_render):
    rendered = dask_render(dask_plugin_manager(plugin), dask_cluster(annotations={COST_CENTER: "x"}))
    assert rendered.worker_pods[0]["metadata"]["labels"]["dask.org/component"] == "worker"


def test_the_operator_loads_both_entry_points(dask_plugin_manager):
    pm = dask_plugin_manager(entry_points=True)
    loaded = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert {"minimal", "minimal_handlers"} <= loaded
    info = {i.name: i for i in pm.info()}
    assert info["minimal"].hooks == ["dask_child_labels"]
    assert info["minimal_handlers"].kopf_handlers == ["handle_scheduler_service_create"]
