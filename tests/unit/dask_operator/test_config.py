import dask.config
from dask_operator import config


def test_defaults():
    assert config.get("cluster-domain") == "cluster.local"
    assert config.get("metrics.port") == 9090
    assert config.as_bool(config.get("legacy-cli-shim")) is True
    assert config.as_bool(config.get("scale-down.allow-unsafe-fallback")) is False
    assert config.worker_batch_size() == config.DEFAULT_BATCH_SIZE
    assert config.worker_batch_delay() == 0.0


def test_environment_override_with_underscores(monkeypatch):
    monkeypatch.setenv("DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE", "3")
    monkeypatch.setenv("DASK_KUBERNETES__CONTROLLER__CLUSTER_DOMAIN", "corp.local")
    with dask.config.set(dask.config.collect_env()):
        assert config.worker_batch_size() == 3
        assert config.get("cluster-domain") == "corp.local"


def test_string_booleans():
    assert config.as_bool("false") is False and config.as_bool("True") is True
