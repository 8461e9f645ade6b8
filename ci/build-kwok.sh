#!/usr/bin/env bash
# Builds kwok (Kubernetes WithOut Kubelet: simulated nodes whose pods go Running through
# "stages", without processes) from the Go module proxy into the versioned cache. Used by
# `ci/cluster up --fake-nodes N` for the scale benchmarks. A no-op when cached.
set -euo pipefail
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
OUT="$CACHE/kwok-v$KWOK_VERSION"
# kwok has no built-in stages: it plays the "fast" node and pod stages its own module ships
# (node initialised Ready at once, Lease heartbeats, pods Running and Ready at once, deleted
# pods removed), copied from the same module version into $OUT/stages.yaml.
STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
        pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
if [ -x "$OUT/bin/kwok" ] && [ -s "$OUT/stages.yaml" ]; then echo "kwok v$KWOK_VERSION: cached in $OUT/bin"; exit 0; fi
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
mkdir -p "$OUT/bin"
echo "kwok v$KWOK_VERSION: resolving and compiling sigs.k8s.io/kwok/cmd/kwok (a few minutes on 2 cores)"
GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w \
  -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" \
  "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
"$OUT/bin/kwok" --version
SRC="$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage"
[ -d "$SRC" ] || go mod download "sigs.k8s.io/kwok@v$KWOK_VERSION"
for f in "${STAGES[@]}"; do echo "---"; cat "$SRC/$f"; done > "$OUT/stages.yaml.tmp"
mv "$OUT/stages.yaml.tmp" "$OUT/stages.yaml"
echo "kwok v$KWOK_VERSION: stages ${STAGES[*]} in $OUT/stages.yaml"
echo "kwok v$KWOK_VERSION: built in $(( $(date +%s) - start ))s into $OUT/bin"
