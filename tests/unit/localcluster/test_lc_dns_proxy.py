"""Hosts files for pods, endpoint selection for the service proxy, pod IP allocation."""

from localcluster import dns, network, proxy


def svc(ns, name, ip):
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip}}


def test_hosts_file_names_services_relative_to_the_pod_namespace():
    text = dns.hosts_file("team", "10.244.0.5", "mypod",
                          [svc("team", "sched", "10.0.0.10"), svc("other", "db", "10.0.0.11"),
                           svc("team", "peers", "None")],
                          {("team", "peers"): [("10.244.0.7", "w-0"), ("10.244.0.8", None)]})
    lines = text.splitlines()
    assert "127.0.0.1\tlocalhost" in lines
    assert "10.244.0.5\tmypod" in lines
    assert "10.0.0.10\tsched sched.team sched.team.svc sched.team.svc.cluster.local" in lines
    # another namespace's Service has no short name here
    assert "10.0.0.11\tdb.other db.other.svc db.other.svc.cluster.local" in lines
    assert "10.244.0.7\tpeers peers.team peers.team.svc peers.team.svc.cluster.local" in lines
    assert ("10.244.0.7\tw-0.peers w-0.peers.team w-0.peers.team.svc "
            "w-0.peers.team.svc.cluster.local") in lines


def test_resolv_conf_never_points_outside():
    text = dns.resolv_conf("team")
    assert "nameserver 127.0.0.1" in text
    assert "search team.svc.cluster.local svc.cluster.local cluster.local" in text


def test_ready_endpoints_match_the_port_name_and_skip_unready():
    slices = [{
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9090}],
        "endpoints": [
            {"addresses": ["10.244.0.2"], "conditions": {"ready": True}},
            {"addresses": ["10.244.0.3"], "conditions": {"ready": False}},
            {"addresses": ["10.244.0.4"]},
        ],
    }]
    assert proxy.ready_endpoints(slices, "http") == [("10.244.0.2", 8080), ("10.244.0.4", 8080)]
    assert proxy.ready_endpoints(slices, "metrics") == [("10.244.0.2", 9090), ("10.244.0.4", 9090)]
    assert proxy.ready_endpoints(slices, "other") == []


def test_ipam_never_hands_out_the_bridge_and_does_not_reuse_at_once():
    ipam = network.IPAM("10.9.0.0/29")
    got = [ipam.allocate() for _ in range(5)]
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    ipam.release("10.9.0.3")
    assert ipam.allocate() == "10.9.0.3"


def test_netns_and_veth_names_fit_the_kernel_limits():
    ns = network.netns_name("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert ns.startswith(network.NETNS_PREFIX)
    assert len(network.veth_name(ns)) <= 15


def test_ipam_keeps_a_pods_previous_address_when_free():
    ipam = network.IPAM("10.9.0.0/24")
    assert ipam.allocate(prefer="10.9.0.77") == "10.9.0.77"
    assert ipam.allocate(prefer="10.9.0.77") != "10.9.0.77"   # taken
    assert ipam.allocate(prefer="192.168.1.5").startswith("10.9.0.")  # outside the range


def test_node_ports_listen_on_the_node_address_while_endpoints_are_ready():
    from localcluster.config import NODE_IP, ClusterConfig

    service = {"metadata": {"namespace": "ns", "name": "web"},
               "spec": {"type": "NodePort", "clusterIP": "10.0.0.7",
                        "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
    ready = {"metadata": {"namespace": "ns", "name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
             "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["10.244.0.2"]}]}
    cfg = ClusterConfig(state="/nonexistent", bin_dir="/nonexistent", venv="/nonexistent")
    sp = proxy.ServiceProxy(cfg, client=None, on_change=lambda *a: None)  # type: ignore[arg-type]
    sp.services = {("ns", "web"): service}
    assert sp.desired() == {}  # no ready endpoint: nothing listens, connections are refused
    sp.slices = {("ns", "web-abc"): ready}
    assert sp.desired() == {("10.0.0.7", 80): (("ns", "web"), "http"), (NODE_IP, 30080): (("ns", "web"), "http")}
    service["spec"]["type"] = "ClusterIP"
    assert sp.desired() == {("10.0.0.7", 80): (("ns", "web"), "http")}


def test_load_balancers_get_their_own_address_from_the_pool_and_keep_it():
    from localcluster.config import ClusterConfig

    cfg = ClusterConfig(state="/nonexistent", bin_dir="/nonexistent", venv="/nonexistent", load_balancer_cidr="10.1.9.0/29")

    def lb(name, status_ip=None):
        status = {"loadBalancer": {"ingress": [{"ip": status_ip}]}} if status_ip else {}
        return {"metadata": {"namespace": "ns", "name": name}, "status": status,
                "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.9",
                         "ports": [{"name": "tcp", "port": 8786, "nodePort": 30001}]}}

    sp = proxy.ServiceProxy(cfg, client=None, on_change=lambda *a: None)  # type: ignore[arg-type]
    # one kept from before an agent restart, one new: distinct addresses from the pool
    sp.services = {("ns", "old"): lb("old", status_ip="10.1.9.5"), ("ns", "new"): lb("new")}
    sp.desired()
    assert sp.load_balancer_ips == {("ns", "old"): "10.1.9.5", ("ns", "new"): "10.1.9.1"}
    sp.slices = {("ns", "s"): {"metadata": {"namespace": "ns", "name": "s", "labels": {"kubernetes.io/service-name": "new"}},
                               "ports": [{"name": "tcp", "port": 8786}], "endpoints": [{"addresses": ["10.244.0.2"]}]}}
    assert (("10.1.9.1", 8786)) in sp.desired()  # listens on its address once an endpoint is ready
    # a Service that stops being a LoadBalancer, or goes, frees its address
    sp.services[("ns", "old")]["spec"]["type"] = "ClusterIP"
    del sp.services[("ns", "new")]
    sp.desired()
    assert sp.load_balancer_ips == {}
    # an address outside the pool in the status is not taken over
    sp.services = {("ns", "odd"): lb("odd", status_ip="192.0.2.1")}
    sp.desired()
    assert sp.load_balancer_ips == {("ns", "odd"): "10.1.9.1"}


def test_addresses_of_closed_ports_stay_while_their_connections_run():
    from localcluster.config import ClusterConfig

    cfg = ClusterConfig(state="/nonexistent", bin_dir="/nonexistent", venv="/nonexistent")
    sp = proxy.ServiceProxy(cfg, client=None, on_change=lambda *a: None)  # type: ignore[arg-type]
    sp.services = {("ns", "new"): {"metadata": {"namespace": "ns", "name": "new"},
                                   "spec": {"clusterIP": "10.0.0.8", "ports": [{"port": 80}]}}}
    gone = proxy.Listener(sp, ("ns", "old"), "")
    gone.address = ("10.0.0.7", 80)
    gone._connections.add(object())  # type: ignore[arg-type]  # an established connection
    sp.draining = {gone}
    assert sp.wanted_addresses({}) == {"10.0.0.7", "10.0.0.8"}
    gone._connections.clear()
    sp.draining = {listener for listener in sp.draining if listener.busy}
    assert sp.wanted_addresses({}) == {"10.0.0.8"}
