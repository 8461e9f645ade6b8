"""Built-in plugin: how many workers a DaskAutoscaler asks for (a pure decision).

The scheduler's adaptive target is clamped to ``[spec.minimum, spec.maximum]`` (no maximum:
no upper bound). Scaling up happens at once. Scaling down is stabilised like the Kubernetes
HorizontalPodAutoscaler: the group shrinks to the highest clamped target seen during the last
``spec.scaleDownStabilizationSeconds`` (default: config
``kubernetes.controller.autoscaler.scale-down-stabilization``, 60 s), so a target must stay
lower for the whole window before workers are retired, and a short lull between two
computations does not throw workers (and their data) away.
"""

from __future__ import annotations

from typing import Any

from dask_operator import api, hookimpl

DEFAULT_STABILIZATION_SECONDS = 60.0


def bounds(autoscaler: dict[str, Any]) -> tuple[int, int | None]:
    spec = autoscaler.get("spec", {})
    minimum = int(spec.get("minimum") or 0)
    maximum = spec.get("maximum")
    return minimum, None if maximum is None else int(maximum)


def clamp(target: int, minimum: int, maximum: int | None) -> int:
    value = max(int(target), minimum)
    return value if maximum is None else min(value, maximum)


def stabilization_seconds(autoscaler: dict[str, Any]) -> float:
    value = autoscaler.get("spec", {}).get("scaleDownStabilizationSeconds")
    if value is None:
        value = api.get_config("autoscaler.scale-down-stabilization", DEFAULT_STABILIZATION_SECONDS)
    return max(0.0, float(value))


def _range(minimum: int, maximum: int | None) -> str:
    return f"[{minimum}, {'unbounded' if maximum is None else maximum}]"


@hookimpl(trylast=True)
def dask_autoscaler_desired_workers(
    autoscaler: dict[str, Any],
    worker_group: dict[str, Any],
    target: int,
    current: int,
    recent: list[dict[str, Any]],
) -> dict[str, Any]:
    minimum, maximum = bounds(autoscaler)
    wanted = clamp(target, minimum, maximum)
    asked = f"the scheduler asks for {target} worker(s), {wanted} within {_range(minimum, maximum)}"
    if wanted > current:
        return {"workers": wanted, "reason": f"{asked}: scaling up from {current} at once"}
    if wanted == current:
        return {"workers": current, "reason": f"{asked}: already there"}
    if maximum is not None and current > maximum:
        return {"workers": maximum, "reason": f"{asked}: {current} is above the maximum {maximum}, scaling down to it"}

    window = stabilization_seconds(autoscaler)
    now = float(recent[-1]["time"]) if recent else 0.0
    in_window = [clamp(int(r["target"]), minimum, maximum) for r in recent if float(r["time"]) >= now - window]
    stable = min(current, max(in_window + [wanted]))
    if stable == current:
        return {
            "workers": current,
            "reason": f"{asked}: keeping {current} until the target has stayed lower for {window:g} s "
            "(scale-down stabilisation window)",
        }
    return {
        "workers": stable,
        "reason": f"{asked}: the highest target of the last {window:g} s is {stable}, scaling down from {current}",
    }
