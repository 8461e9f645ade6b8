#!/usr/bin/env bash
# Builds etcd from the Go module proxy into the versioned cache. A no-op when cached.
# `go install go.etcd.io/etcd/server/v3@...` refuses etcd's replace lines, so we build from a
# wrapper module; -o names the binary (Go would call it "server").
set -euo pipefail
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
OUT="$CACHE/etcd-v$ETCD_VERSION"
if [ -x "$OUT/bin/etcd" ]; then echo "etcd v$ETCD_VERSION: cached in $OUT/bin"; exit 0; fi
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
W="$CACHE/src/etcd-v$ETCD_VERSION"; rm -rf "$W"; mkdir -p "$W" "$OUT/bin"; cd "$W"
go mod init testenv.invalid/etcdbin >/dev/null 2>&1
go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
go build -trimpath -ldflags="-s -w -X=go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION" \
  -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3
"$OUT/bin/etcd" --version | head -1
echo "etcd v$ETCD_VERSION: built in $(( $(date +%s) - start ))s into $OUT/bin"
