import asyncio

import pytest

from dask_kubernetes.operator.kubecluster.addresses import (
    Endpoint,
    Forwarding,
    answers,
    find_reachable,
    find_service_port,
    plan_route,
    probe,
    resolve_container_port,
)
from dask_kubernetes.operator.spec import make_cluster_spec


def scheduler_service(service_type="ClusterIP", cluster_ip="10.96.0.10", **status):
    ports = make_cluster_spec(name="foo")["spec"]["scheduler"]["service"]["ports"]
    ports = [dict(p) for p in ports]
    if service_type in ("NodePort", "LoadBalancer"):
        ports[0]["nodePort"] = 30786
        ports[1]["nodePort"] = 30787
    return {
        "metadata": {"name": "foo-scheduler", "namespace": "team"},
        "spec": {"type": service_type, "clusterIP": cluster_ip, "ports": ports},
        "status": status,
    }


NODES = [
    {
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ]
        }
    },
    {
        "status": {
            "addresses": [
                {"type": "ExternalIP", "address": "203.0.113.7"},
                {"type": "InternalIP", "address": "10.0.0.6"},
            ]
        }
    },
]


def test_cluster_ip_from_the_host_tries_the_cluster_ip_then_forwards():
    route = plan_route(scheduler_service(), "tcp-comm")
    assert route.candidates == [Endpoint("10.96.0.10", 8786, "cluster-ip")]
    assert route.forwarding is Forwarding.FALLBACK
    assert route.target_port == "tcp-comm"


def test_inside_a_pod_the_service_dns_name_comes_first():
    route = plan_route(scheduler_service(), "tcp-comm", in_pod=True)
    assert [e.source for e in route.candidates] == ["dns", "cluster-ip"]
    assert route.candidates[0] == Endpoint("foo-scheduler.team", 8786, "dns")


def test_dashboard_port_is_found_by_name():
    route = plan_route(scheduler_service(), "http-dashboard")
    assert route.candidates == [Endpoint("10.96.0.10", 8787, "cluster-ip")]


def test_port_forward_cluster_ip_true_skips_direct_addresses():
    route = plan_route(scheduler_service(), "tcp-comm", in_pod=True, port_forward_cluster_ip=True)
    assert route.candidates == []
    assert route.forwarding is Forwarding.ALWAYS


def test_port_forward_cluster_ip_false_never_forwards():
    route = plan_route(scheduler_service(), "tcp-comm", port_forward_cluster_ip=False)
    assert route.forwarding is Forwarding.NEVER
    assert route.candidates == [Endpoint("10.96.0.10", 8786, "cluster-ip")]


def test_load_balancer_ingress_then_node_ports_then_cluster_ip():
    service = scheduler_service(
        "LoadBalancer",
        loadBalancer={"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example.org"}]},
    )
    route = plan_route(service, "tcp-comm", nodes=NODES)
    assert route.candidates == [
        Endpoint("198.51.100.1", 8786, "load-balancer"),
        Endpoint("lb.example.org", 8786, "load-balancer"),
        Endpoint("203.0.113.7", 30786, "node-port"),
        Endpoint("10.0.0.5", 30786, "node-port"),
        Endpoint("10.0.0.6", 30786, "node-port"),
        Endpoint("10.96.0.10", 8786, "cluster-ip"),
    ]


def test_load_balancer_is_not_forced_through_a_port_forward():
    service = scheduler_service("LoadBalancer", loadBalancer={"ingress": [{"ip": "198.51.100.1"}]})
    route = plan_route(service, "tcp-comm", port_forward_cluster_ip=True)
    assert route.forwarding is Forwarding.FALLBACK
    assert route.candidates[0].source == "load-balancer"


def test_node_port_uses_external_addresses_before_internal_ones():
    route = plan_route(scheduler_service("NodePort"), "http-dashboard", nodes=NODES)
    assert [str(e) for e in route.candidates] == [
        "203.0.113.7:30787",
        "10.0.0.5:30787",
        "10.0.0.6:30787",
        "10.96.0.10:8787",
    ]


def test_headless_service_has_no_cluster_ip_candidate():
    route = plan_route(scheduler_service(cluster_ip="None"), "tcp-comm")
    assert route.candidates == []
    assert route.forwarding is Forwarding.FALLBACK


def test_missing_port_name_is_explained():
    with pytest.raises(
        ValueError, match="no port named 'nope' \\(ports: tcp-comm, http-dashboard\\)"
    ):
        find_service_port(scheduler_service(), "nope")


def test_ipv6_endpoints_are_bracketed():
    assert str(Endpoint("fd00::1", 8786, "cluster-ip")) == "[fd00::1]:8786"


def test_target_ports_resolve_against_the_pod():
    pod = {
        "metadata": {"name": "p"},
        "spec": make_cluster_spec(name="foo")["spec"]["scheduler"]["spec"],
    }
    assert resolve_container_port(pod, "tcp-comm") == 8786
    assert resolve_container_port(pod, "http-dashboard") == 8787
    assert resolve_container_port(pod, 9999) == 9999
    assert resolve_container_port(pod, "8786") == 8786
    with pytest.raises(ValueError, match="no port named 'web'"):
        resolve_container_port(pod, "web")


async def closed_port() -> int:
    probe_server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = probe_server.sockets[0].getsockname()[1]
    probe_server.close()
    await probe_server.wait_closed()
    return port


async def test_find_reachable_skips_closed_ports_and_returns_the_first_listener():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = server.sockets[0].getsockname()[1]
    try:
        closed = Endpoint("127.0.0.1", await closed_port(), "cluster-ip")
        listening = Endpoint("127.0.0.1", open_port, "node-port")
        assert await probe(closed, timeout=1) == "refused"
        assert not await answers(closed, timeout=1)
        assert await answers(listening, timeout=1)
        assert await find_reachable([closed, listening], timeout=1, settle=0) == listening
        assert await find_reachable([closed], timeout=1, settle=0) is None
    finally:
        server.close()
        await server.wait_closed()


async def test_find_reachable_waits_a_little_for_a_refusing_address_to_open():
    port = await closed_port()
    endpoint = Endpoint("127.0.0.1", port, "cluster-ip")
    servers = []

    async def open_later():
        await asyncio.sleep(0.6)
        servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))

    opener = asyncio.ensure_future(open_later())
    try:
        assert await find_reachable([endpoint], timeout=1, settle=10) == endpoint
    finally:
        await opener
        for server in servers:
            server.close()
            await server.wait_closed()
