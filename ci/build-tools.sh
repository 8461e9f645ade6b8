#!/usr/bin/env bash
# Builds (or finds cached) every binary the local cluster needs and prints the bin directory
# that holds them all as its last line. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
command -v go >/dev/null || { echo "go is required to build the Kubernetes binaries (https://go.dev/dl)" >&2; exit 1; }
bash "$here/build-k8s.sh" >&2
bash "$here/build-etcd.sh" >&2
bash "$here/build-helm.sh" >&2
bash "$here/build-kstatus.sh" >&2
bash "$here/build-kwok.sh" >&2
# The real node (ci/cluster up --node real) needs more: built only when asked for.
if [ "${DASK_LOCALCLUSTER_NODE:-process}" = real ]; then bash "$here/build-node.sh" >&2; fi
BIN="$CACHE/bin"; mkdir -p "$BIN"
for b in "$CACHE"/k8s-v"${K8S_VERSION:-1.36.3}"/bin/* "$CACHE"/etcd-v"${ETCD_VERSION:-3.6.16}"/bin/* "$CACHE"/helm-v"${HELM_VERSION:-3.21.4}"/bin/* \
         "$CACHE"/kstatus-v"${CLI_UTILS_VERSION:-0.37.2}"/bin/*; do
  ln -sf "$b" "$BIN/$(basename "$b")"
done
for b in "$CACHE"/coredns-v"${COREDNS_VERSION:-1.15.0}"/bin/*; do if [ -e "$b" ]; then ln -sf "$b" "$BIN/$(basename "$b")"; fi; done
K="$CACHE/kwok-v${KWOK_VERSION:-0.8.0}"; ln -sf "$K/bin/kwok" "$BIN/kwok"; ln -sf "$K/stages.yaml" "$BIN/kwok-stages.yaml"
echo "$BIN"
