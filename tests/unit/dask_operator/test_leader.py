"""Leader election: the pure decisions on the Lease and the elector against a fake Lease store."""

from __future__ import annotations

import asyncio
from typing import Any

import dask.config
import pytest
from dask_operator import leader
from dask_operator.leader import Conflict, Elector, LeadershipLost, LeaseSettings

ME = LeaseSettings(name="op", namespace="ops", identity="me", duration=30, renew_period=10)
NOW = "2026-12-07T12:00:00.000000Z"


def lease(holder: str, version: str = "7", renew: str = NOW, transitions: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "op", "namespace": "ops", "resourceVersion": version},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30, "renewTime": renew,
                 "acquireTime": "2026-12-07T11:00:00.000000Z", "leaseTransitions": transitions},
    }


# --- decisions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "unchanged_for", "expected"),
    [
        (None, 0, True),  # no Lease yet
        (lease(""), 0, True),  # released
        (lease("me"), 0, True),  # ours
        (lease("other"), 29.9, False),  # held and renewed recently
        (lease("other"), 30, True),  # not renewed for its whole duration
    ],
)
def test_can_take(current: dict[str, Any] | None, unchanged_for: float, expected: bool) -> None:
    assert leader.can_take(current, "me", unchanged_for, 30) is expected


def test_claiming_a_new_lease_creates_it() -> None:
    body = leader.claimed(None, ME, NOW)
    assert "resourceVersion" not in body["metadata"]
    assert body["spec"] == {"holderIdentity": "me", "leaseDurationSeconds": 30, "renewTime": NOW,
                            "acquireTime": NOW, "leaseTransitions": 0}


def test_taking_over_counts_a_transition_and_is_conditional() -> None:
    body = leader.claimed(lease("other", transitions=2), ME, NOW)
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["spec"]["leaseTransitions"] == 3 and body["spec"]["acquireTime"] == NOW


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    body = leader.claimed(lease("me", transitions=2), ME, NOW)
    assert body["spec"]["acquireTime"] == "2026-12-07T11:00:00.000000Z"
    assert body["spec"]["leaseTransitions"] == 2 and body["spec"]["renewTime"] == NOW


def test_released_lease_has_no_holder_and_keeps_its_version() -> None:
    body = leader.released(lease("me"), NOW)
    assert body["spec"]["holderIdentity"] == "" and body["spec"]["leaseDurationSeconds"] == 1
    assert body["metadata"]["resourceVersion"] == "7"


def test_renew_period_must_leave_room_before_the_deadline() -> None:
    with dask.config.set({"kubernetes.controller.leader-election.renew-period": 25}):
        with pytest.raises(ValueError, match="two thirds"):
            LeaseSettings.from_config(["ns"])


def test_lease_namespace_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(leader, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "absent")
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert leader.lease_namespace("configured", ["a"]) == "configured"
    assert leader.lease_namespace(None, ["team-*", "b"]) == "b"
    assert leader.lease_namespace(None, []) == "default"
    monkeypatch.setenv("POD_NAMESPACE", "pod-ns")
    assert leader.lease_namespace(None, ["a"]) == "pod-ns"


# --- the elector against a fake store ---------------------------------------------------------------


class FakeStore:
    def __init__(self, current: dict[str, Any] | None = None, fail: BaseException | None = None) -> None:
        self.current = current
        self.fail = fail
        self.writes: list[dict[str, Any]] = []

    async def read(self) -> dict[str, Any] | None:
        return self.current

    async def write(self, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.writes.append(body)
        version = str(int(body["metadata"].get("resourceVersion") or 0) + 1)
        self.current = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
        return self.current


def elector(store: FakeStore, duration: float = 30, renew: float = 10) -> Elector:
    settings = LeaseSettings("op", "ops", "me", duration=duration, renew_period=renew)
    return Elector(store, settings)  # type: ignore[arg-type]


def test_a_missing_lease_is_created_and_held() -> None:
    store = FakeStore()
    assert asyncio.run(elector(store).wait_for_leadership(asyncio.Event())) is True
    assert store.writes[0]["spec"]["holderIdentity"] == "me"


def test_a_stopped_standby_returns_without_writing() -> None:
    async def scenario() -> bool:
        stop = asyncio.Event()
        stop.set()
        return await elector(FakeStore(lease("other"))).wait_for_leadership(stop)

    assert asyncio.run(scenario()) is False


def test_renewals_failing_past_the_deadline_lose_leadership() -> None:
    store = FakeStore(fail=OSError("apiserver unreachable"))
    e = elector(store, duration=0.3, renew=0.05)
    e.lease = lease("me")
    with pytest.raises(LeadershipLost, match="not renewed"):
        asyncio.run(asyncio.wait_for(e.keep_leadership(), 5))


def test_someone_else_holding_the_lease_loses_leadership_at_once() -> None:
    store = FakeStore(lease("other", version="9"), fail=Conflict("changed"))
    e = elector(store, duration=0.3, renew=0.05)
    e.lease = lease("me")
    with pytest.raises(LeadershipLost, match="other holds"):
        asyncio.run(asyncio.wait_for(e.keep_leadership(), 5))


def test_release_writes_an_empty_holder_once_and_only_when_held() -> None:
    store = FakeStore()
    e = elector(store)
    e.lease = lease("other")
    asyncio.run(e.release())
    assert store.writes == []
    e.lease = lease("me")
    asyncio.run(e.release())
    assert [w["spec"]["holderIdentity"] for w in store.writes] == [""]
