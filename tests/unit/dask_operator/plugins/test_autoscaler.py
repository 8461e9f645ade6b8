import pytest
from dask_operator.plugins import autoscaler


def scaler(minimum=1, maximum=10, window=None):
    spec = {"cluster": "simple", "minimum": minimum}
    if maximum is not None:
        spec["maximum"] = maximum
    if window is not None:
        spec["scaleDownStabilizationSeconds"] = window
    return {"metadata": {"name": "simple", "namespace": "ns"}, "spec": spec}


def decide(obj, target, current, recent):
    return autoscaler.dask_autoscaler_desired_workers(obj, {}, target, current, recent)


@pytest.mark.parametrize(("target", "expected"), [(0, 1), (5, 5), (50, 10)])
def test_clamped_into_minimum_and_maximum(target, expected):
    assert autoscaler.clamp(target, 1, 10) == expected


def test_no_maximum_is_unbounded():
    assert decide(scaler(maximum=None), 40, 1, [{"time": 0, "target": 40}])["workers"] == 40


def test_scale_up_at_once():
    answer = decide(scaler(), 50, 1, [{"time": 0, "target": 1}, {"time": 1, "target": 50}])
    assert answer["workers"] == 10 and "scaling up from 1 at once" in answer["reason"]


def test_scale_down_waits_for_the_window():
    recent = [{"time": 0, "target": 8}, {"time": 5, "target": 2}, {"time": 20, "target": 2}]
    answer = decide(scaler(window=30), 2, 8, recent)
    assert answer["workers"] == 8 and "stabilisation window" in answer["reason"]


def test_scale_down_to_the_highest_target_in_the_window():
    recent = [{"time": 0, "target": 8}, {"time": 50, "target": 4}, {"time": 70, "target": 2}, {"time": 100, "target": 1}]
    answer = decide(scaler(window=40), 1, 8, recent)  # window: times 60..100 -> highest 2
    assert answer["workers"] == 2 and "scaling down from 8" in answer["reason"]
    assert decide(scaler(window=40), 1, 2, recent + [{"time": 200, "target": 0}])["workers"] == 1


def test_above_the_maximum_comes_down_at_once():
    answer = decide(scaler(maximum=3, window=600), 2, 7, [{"time": 0, "target": 7}, {"time": 1, "target": 2}])
    assert answer["workers"] == 3


def test_default_window_from_config():
    import dask

    with dask.config.set({"kubernetes.controller.autoscaler.scale-down-stabilization": 5}):
        assert autoscaler.stabilization_seconds(scaler()) == 5
    assert autoscaler.stabilization_seconds(scaler(window=0)) == 0
    assert autoscaler.stabilization_seconds(scaler()) == 60  # documented default
