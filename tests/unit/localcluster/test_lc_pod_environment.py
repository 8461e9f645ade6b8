"""A container's Service environment: never built before the node has listed the Services, and
built again from the current Services at every container start."""

import asyncio

import pytest
from localcluster import pods, proxy
from localcluster.config import ClusterConfig
from localcluster.envvars import ContainerConfigError
from localcluster.kubelet import Kubelet
from localcluster.pods import PodWorker

CFG = ClusterConfig(state="/nonexistent", bin_dir="/nonexistent", venv="/venv")


def _service(ns, name, ip, port):
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": [{"name": "p", "port": port, "protocol": "TCP"}]}}


KUBERNETES = _service("default", "kubernetes", "10.0.0.1", 443)
POD = {"metadata": {"uid": "u1", "namespace": "ns", "name": "p"},
       "spec": {"containers": [{"name": "c", "command": ["true"]}]}}


def _worker():
    kubelet = Kubelet(CFG, client=None)  # type: ignore[arg-type]
    return kubelet, PodWorker(kubelet, POD)


def test_no_environment_before_the_services_were_listed(monkeypatch):
    monkeypatch.setattr(pods, "SERVICES_WAIT", 0.05)

    async def scenario():
        kubelet, worker = _worker()
        container = worker.containers[0]
        with pytest.raises(ContainerConfigError, match="services have not yet been read at least once"):
            await worker._environment(container)
        # a start that is waiting goes on as soon as the first listing arrives
        monkeypatch.setattr(pods, "SERVICES_WAIT", 5)
        starting = asyncio.create_task(worker._environment(container))
        await asyncio.sleep(0.05)
        assert not starting.done()
        kubelet.services_read({("default", "kubernetes"): KUBERNETES})
        env = await asyncio.wait_for(starting, 1)
        assert env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"

    asyncio.run(scenario())


def test_every_start_gets_the_current_services():
    async def scenario():
        kubelet, worker = _worker()
        container = worker.containers[0]
        kubelet.services_read({("default", "kubernetes"): KUBERNETES})
        first = await worker._environment(container)
        assert "WEB_SERVICE_HOST" not in first
        kubelet.services_read({("default", "kubernetes"): KUBERNETES,
                               ("ns", "web"): _service("ns", "web", "10.0.0.9", 80)})
        second = await worker._environment(container)
        assert second["WEB_SERVICE_HOST"] == "10.0.0.9" and second["WEB_PORT"] == "tcp://10.0.0.9:80"

    asyncio.run(scenario())


def test_the_proxy_hands_over_services_as_listed_without_waiting_for_endpoints():
    seen = []
    sp = proxy.ServiceProxy(CFG, client=None, on_change=lambda *a: None,  # type: ignore[arg-type]
                            on_services=lambda services: seen.append(dict(services)))

    async def scenario():
        await sp._sync_services([KUBERNETES])  # no EndpointSlice listed yet, no pass has run
        assert seen[-1] == {("default", "kubernetes"): KUBERNETES}
        web = _service("ns", "web", "10.0.0.9", 80)
        await sp._on_service("ADDED", web)
        assert seen[-1] == {("default", "kubernetes"): KUBERNETES, ("ns", "web"): web}
        await sp._on_service("DELETED", web)
        assert seen[-1] == {("default", "kubernetes"): KUBERNETES}

    asyncio.run(scenario())
