#!/usr/bin/env bash
# Builds (or finds cached) what the real node of `ci/cluster up --node real` runs, besides the
# control plane: kubelet + kube-proxy, containerd + runc, the CNI plugins, a trimmed CoreDNS and
# a local OCI registry. Progress goes to stdout (ci/build-tools.sh sends it to stderr).
#
# Where each part comes from, and why:
# - containerd 1.6 + runc 1.1 + CNI plugins 1.1 + docker-registry: Debian bookworm's packages.
#   They install in seconds, whereas containerd from the Go proxy is an 8-minute build on this
#   2-core machine. Kubernetes 1.36's kubelet still accepts containerd 1.6; the kubelet 1.37
#   will require containerd 2.x, which Debian bookworm does not ship: then build it with
#   `go install github.com/containerd/containerd/v2/cmd/{containerd,containerd-shim-runc-v2,ctr}`.
# - kubelet, kube-proxy: the same wrapper-module build as the control plane (ci/build-k8s.sh).
# - CoreDNS: the Go proxy (Debian has none), trimmed to the plugins a cluster DNS needs.
# - buildah, mmdebstrap, skopeo-free tooling for ci/build-images.sh, and nftables, socat,
#   conntrack for the node's network side.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

APT_PACKAGES=(containerd runc containernetworking-plugins docker-registry buildah mmdebstrap
              socat nftables conntrack uidmap fuse-overlayfs iproute2)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "node: needs root to apt-get install ${missing[*]}" >&2; exit 1; }
  echo "node: apt-get install ${missing[*]}"
  # policy-rc.d-less machines would start the packages' daemons; we start our own instances.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "node: $(containerd --version | cut -d' ' -f3), runc $(runc --version | head -1 | cut -d' ' -f3), CNI plugins in /usr/lib/cni"

# One Go build at a time: CoreDNS is the long one (a fresh machine builds it first).
bash "$here/build-coredns.sh"
K8S_BINS="kubelet kube-proxy" bash "$here/build-k8s.sh"
