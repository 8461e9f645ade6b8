"""What the real node (`ci/cluster up --node real`) is made of: its addresses and the
configuration files of containerd, the CNI plugins, the kubelet, kube-proxy, the registry
mirror and CoreDNS. Pure functions: :mod:`.realnode` writes and runs them.

The node's network side lives in a network namespace of its own (``dkrn<instance>``) joined to
the host by one veth pair: containerd and its pods, the CNI bridge, kube-proxy's nftables
table, ip_forward and the registry mirror are all inside it, so the host's own tables and
sysctls stay as they are and several instances can run side by side.

Addresses (instance N)::

    host side of the veth   10.(190+N).0.1/30     the apiserver forwarder listens on BRIDGE_IP
    node (eth0 in netns)    10.(190+N).0.2/30     the Node's InternalIP; kubelet :10250
    pods (CNI bridge cni0)  10.(200+N).0.0/16     gateway 10.(200+N).0.1
    Services                10.0.N.0/24           cluster DNS 10.0.N.10 (CoreDNS)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "real-node"
REGISTRY_PORT = 5000  # inside the node's namespace: it never collides with the host's ports
KUBELET_PORT = 10250
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
COREDNS_VERSION = "1.15.0"
# Registries whose images the local registry serves instead (nothing is pulled from outside).
MIRRORED_REGISTRIES = ("ghcr.io", "docker.io", "registry.k8s.io")
# Host-wide sysctls the kubelet sets at start (setupKernelTunables): `down` puts them back.
KUBELET_SYSCTLS = (
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
)
# Paths the kubelet and containerd create on the host whatever their flags say; `down`
# removes those that did not exist before `up`.
HOST_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/lib/cni", "/run/containerd")


@dataclass(frozen=True)
class Layout:
    """Names, addresses and directories of one instance's real node."""

    instance: int
    state: Path  # <cluster state>/realnode

    @property
    def netns(self) -> str:
        return f"dkrn{self.instance}"

    @property
    def host_veth(self) -> str:
        return f"dkrn{self.instance}h"

    @property
    def node_veth(self) -> str:
        """The node end's name on the host, before it moves into the namespace as eth0."""
        return f"dkrn{self.instance}n"

    @property
    def host_ip(self) -> str:
        return f"10.{190 + self.instance}.0.1"

    @property
    def node_ip(self) -> str:
        return f"10.{190 + self.instance}.0.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.{200 + self.instance}.0.0/16"

    @property
    def pod_gateway(self) -> str:
        return f"10.{200 + self.instance}.0.1"

    @property
    def dns_ip(self) -> str:
        return f"10.0.{self.instance}.10"

    @property
    def cgroup(self) -> str:
        """The kubelet's cgroupRoot: every pod's cgroup is below it, in each hierarchy."""
        return f"dkrealnode{self.instance}"

    @property
    def run(self) -> Path:
        """containerd's state: short paths, as unix socket paths are limited to 108 bytes."""
        return Path(f"/run/dkrealnode{self.instance}")

    @property
    def lib(self) -> Path:
        """containerd's images and the kubelet's root (pod volumes), on disk; short too: the
        kubelet puts sockets there, and a checkout's state directory can be deep."""
        return Path(f"/var/lib/dkrealnode{self.instance}")

    @property
    def kubelet_root(self) -> Path:
        return self.lib / "kubelet"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    def path(self, *parts: str) -> Path:
        return self.state.joinpath(*parts)


def containerd_toml(lay: Layout) -> str:
    # restrict_oom_score_adj: these VMs give root no CAP_SYS_RESOURCE, so runc cannot lower a
    # container's oom_score_adj below its own; without it every sandbox fails to start.
    # netns_mounts_under_state_dir keeps pod namespaces out of the host's /var/run/netns.
    # The "opt" plugin would create /opt/containerd on the host.
    return f"""version = 2
root = "{lay.lib / 'containerd'}"
state = "{lay.run}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{lay.containerd_socket}"
[ttrpc]
  address = "{lay.run / 'containerd.sock.ttrpc'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  stream_server_address = "127.0.0.1"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{lay.path('cni', 'net.d')}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{lay.path('certs.d')}"
"""


def mirror_hosts_toml(registry: str) -> str:
    """containerd's certs.d/<registry>/hosts.toml: ask the local registry first."""
    return f"""server = "https://{registry}"
[host."http://127.0.0.1:{REGISTRY_PORT}"]
  capabilities = ["pull", "resolve"]
"""


def registry_yml(storage: Path) -> str:
    """The docker-registry config: serves ci/build-images.sh's storage, read-only."""
    return (
        "version: 0.1\nlog: {level: warn}\nstorage:\n"
        f"  filesystem: {{rootdirectory: {storage}}}\n"
        "  maintenance: {readonly: {enabled: true}, uploadpurging: {enabled: false}}\n"
        f"http:\n  addr: 127.0.0.1:{REGISTRY_PORT}\n"
    )


def cni_conflist(lay: Layout) -> dict[str, Any]:
    # host-local hands out addresses in order and reuses one only after wrapping: a /16 lasts.
    return {
        "cniVersion": "1.0.0",
        "name": "realnode",
        "plugins": [
            {
                "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": lay.pod_cidr, "gateway": lay.pod_gateway}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(lay.path("cni", "ipam"))},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(lay: Layout, ca_file: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # these machines run cgroup v1 (hybrid); 1.35+ refuses it by default
        "cgroupDriver": "cgroupfs",  # no systemd here
        "cgroupRoot": f"/{lay.cgroup}",
        "containerRuntimeEndpoint": f"unix://{lay.containerd_socket}",
        "address": lay.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "AlwaysAllow"},  # only the apiserver holds a client cert
        "clusterDNS": [lay.dns_ip],
        "clusterDomain": "cluster.local",
        "failSwapOn": False,
        "podLogsDir": str(lay.path("pod-logs")),
        "volumePluginDir": str(lay.kubelet_root / "volume-plugins"),
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        # The node shares the machine's disk with everything else: never evict for disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "makeIPTablesUtilChains": False,
        "maxPods": 110,
    }


def kube_proxy_config(lay: Layout, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": lay.node_ip,
        "clusterCIDR": lay.pod_cidr,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{lay.node_ip}/32"],
        # 0: leave the (host-wide) conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def egress_nft(lay: Layout) -> str:
    """Our own table in the node's namespace: what pods send to the host (the apiserver
    forwarder) leaves with the node's address, so the host needs no route back to pods."""
    return f"""table ip dkrealnode {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" ip saddr {lay.pod_cidr} masquerade
  }}
}}
"""


def kubernetes_endpoints(apiserver_ip: str, apiserver_port: int) -> dict[str, Any]:
    """The apiserver runs with --endpoint-reconciler-type=none and listens on 127.0.0.1: point
    the `kubernetes` Service at the forwarder the host runs for the node."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes-realnode", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes",
                                "endpointslice.kubernetes.io/managed-by": "localcluster-realnode"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [apiserver_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": apiserver_port, "protocol": "TCP"}],
    }


def coredns_manifests(lay: Layout) -> list[dict[str, Any]]:
    """CoreDNS answering <svc>.<ns>.svc.cluster.local, as Deployment kube-system/coredns behind
    Service kube-dns at the kubelet's clusterDNS address. Nothing is forwarded outside."""
    labels = {"k8s-app": "kube-dns"}
    corefile = (".:53 {\n    errors\n    health :8080\n    ready :8181\n"
                "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                "        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }\n"
                "    cache 30\n    reload\n    loadbalance\n}\n")
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
         "data": {"Corefile": corefile}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "serviceAccountName": "coredns", "dnsPolicy": "Default",
                 "priorityClassName": "system-cluster-critical",
                 "containers": [{
                     "name": "coredns", "image": f"registry.k8s.io/coredns/coredns:v{COREDNS_VERSION}",
                     "args": ["-conf", "/etc/coredns/Corefile"],
                     "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                     "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                               {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}],
                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                     "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                     "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                     "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}},
                 }],
                 "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
             }}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
         "spec": {"clusterIP": lay.dns_ip, "selector": labels,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}},
    ]


def as_yaml_stream(docs: list[dict[str, Any]]) -> str:
    """kubectl reads JSON documents as YAML; one per line, separated by ---."""
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"
