import dask.config
import pytest

from dask_kubernetes.operator.kubecluster.config import load_defaults, setting
from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode


def test_defaults_are_registered_on_import():
    import dask_kubernetes.operator.kubecluster  # noqa: F401

    assert dask.config.get("kubernetes.resource-timeout") == 60
    assert dask.config.get("kubernetes.name") == "dask-{user}-{uuid}"
    assert dask.config.get("kubernetes.create-mode") == "CREATE_OR_CONNECT"
    assert dask.config.get("kubernetes.scheduler-service-type") == "ClusterIP"
    assert dask.config.get("kubernetes.count.start") == 3
    assert dask.config.get("kubernetes.port-forward-cluster-ip") is None
    assert dask.config.get("kubernetes.shutdown-on-close") is None


def test_defaults_stay_out_of_the_operator_namespace():
    assert "controller" not in load_defaults()["kubernetes"]


def test_environment_overrides_win_over_the_packaged_defaults():
    config: dict = {}
    env = {
        "DASK_KUBERNETES__RESOURCE_TIMEOUT": "5",
        "DASK_KUBERNETES__CREATE_MODE": "CONNECT_ONLY",
        "DASK_KUBERNETES__PORT_FORWARD_CLUSTER_IP": "True",
    }
    dask.config.update(config, dask.config.collect_env(env))
    dask.config.update_defaults(load_defaults(), config=config, defaults=[])
    assert dask.config.get("kubernetes.resource-timeout", config=config) == 5
    assert dask.config.get("kubernetes.port-forward-cluster-ip", config=config) is True
    mode = dask.config.get("kubernetes.create-mode", config=config)
    assert CreateMode.parse(mode) is CreateMode.CONNECT_ONLY
    # untouched keys keep their defaults
    assert dask.config.get("kubernetes.image", config=config) == "ghcr.io/dask/dask:latest"


def test_setting_prefers_the_argument_then_config():
    with dask.config.set({"kubernetes.resource-timeout": 7}):
        assert setting("resource-timeout") == 7
        assert setting("resource-timeout", 9) == 9
        assert setting("resource_timeout") == 7  # dask treats - and _ alike


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CREATE_OR_CONNECT", CreateMode.CREATE_OR_CONNECT),
        ("create-only", CreateMode.CREATE_ONLY),
        (" connect_only ", CreateMode.CONNECT_ONLY),
        (CreateMode.CONNECT_ONLY, CreateMode.CONNECT_ONLY),
    ],
)
def test_create_mode_accepts_members_and_config_strings(value, expected):
    assert CreateMode.parse(value) is expected


def test_create_mode_rejects_unknown_strings_listing_the_options():
    with pytest.raises(ValueError, match="CREATE_OR_CONNECT, CREATE_ONLY, CONNECT_ONLY"):
        CreateMode.parse("sometimes")


def test_create_mode_members_compare_equal_to_their_names():
    assert CreateMode.CREATE_ONLY == "CREATE_ONLY"
