"""What a pod's or a Dask object's status says, in words for progress messages and errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

#: Waiting states of a scheduler container that only get better if someone fixes something.
STUCK_REASONS = (
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
LOG_TAIL_LINES = 60


def api_error_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def conditions_summary(obj: Mapping[str, Any]) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    parts = [
        f"{c.get('type')}={c.get('status')}: {c.get('message') or c.get('reason') or ''}".strip()
        for c in conditions
        if c.get("status") != "True" and (c.get("message") or c.get("reason"))
    ]
    return "; ".join(parts)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def pod_trouble(pod: Mapping[str, Any]) -> str | None:
    """Why a scheduler pod cannot start by itself (crash loop, failed, bad image), or None."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"failed ({status.get('reason') or status.get('message') or 'no reason given'})"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            message = waiting.get("message") or ""
            return f"is in {waiting['reason']}" + (f": {message}" if message else "")
        restarts = container.get("restartCount") or 0
        if restarts and not container.get("ready"):
            last = (container.get("lastState") or {}).get("terminated") or state.get("terminated")
            code = f", last exit code {last.get('exitCode')}" if last else ""
            return f"keeps crashing (restarted {restarts} times{code})"
    return None


def pod_waiting_reason(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("reason"):
            return f"{condition['reason']}: {condition.get('message') or ''}".strip(": ")
    return str(status.get("phase") or "Pending")


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
