#!/usr/bin/env bash
# Builds a trimmed CoreDNS (ci/node-src/coredns: only the plugins a cluster DNS needs) from the
# Go module proxy into a versioned cache. A no-op when the cache already holds it. It is the
# slowest build of the real node (~15 min on 2 busy cores), so ci/build-node.sh starts it first.
set -euo pipefail
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
here="$(cd "$(dirname "$0")" && pwd)"
OUT="$CACHE/coredns-v$COREDNS_VERSION"
src_hash=$(sha256sum "$here/node-src/coredns/main.go" | cut -c1-12)
if [ -x "$OUT/bin/coredns" ] && [ "$(cat "$OUT/source.sha" 2>/dev/null)" = "$src_hash" ]; then
  echo "coredns v$COREDNS_VERSION: cached in $OUT/bin"; exit 0
fi
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
W="$CACHE/src/coredns-v$COREDNS_VERSION"; rm -rf "$W"; mkdir -p "$W" "$OUT/bin"; cd "$W"
cp "$here/node-src/coredns/main.go" .
go mod init testenv.invalid/coredns >/dev/null 2>&1
echo "coredns v$COREDNS_VERSION: resolving modules"
go get "github.com/coredns/coredns@v$COREDNS_VERSION" >/dev/null 2>&1
go mod tidy >/dev/null 2>&1
echo "coredns v$COREDNS_VERSION: compiling (slow: ~15 min on 2 shared cores)"
# Print a heartbeat so a long build is visibly alive.
( while sleep 60; do echo "coredns: still compiling ($(( $(date +%s) - start ))s)"; done ) & beat=$!
trap 'kill $beat 2>/dev/null || true' EXIT
nice -n 10 go build -trimpath -ldflags="-s -w" -o "$OUT/bin/coredns" .
"$OUT/bin/coredns" -version | head -1
echo "$src_hash" > "$OUT/source.sha"
echo "coredns v$COREDNS_VERSION: built in $(( $(date +%s) - start ))s into $OUT/bin"
