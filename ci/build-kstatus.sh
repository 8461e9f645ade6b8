#!/usr/bin/env bash
# Builds ci/kstatus (a stdin-JSON wrapper around the real kstatus library,
# sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) from the Go module proxy into the versioned
# cache. A no-op when cached. The end-to-end tests feed it live Dask objects.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CLI_UTILS_VERSION="${CLI_UTILS_VERSION:-0.37.2}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
OUT="$CACHE/kstatus-v$CLI_UTILS_VERSION"
SRC_SUM=$(sha256sum "$here/kstatus/main.go" | cut -c1-16)
if [ -x "$OUT/bin/kstatus" ] && [ "$(cat "$OUT/source.sha256" 2>/dev/null)" = "$SRC_SUM" ]; then
  echo "kstatus (cli-utils v$CLI_UTILS_VERSION): cached in $OUT/bin"; exit 0
fi
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
W="$CACHE/src/kstatus-v$CLI_UTILS_VERSION"; rm -rf "$W"; mkdir -p "$W" "$OUT/bin"; cd "$W"
cp "$here/kstatus/main.go" .
go mod init testenv.invalid/kstatus >/dev/null 2>&1
go get "sigs.k8s.io/cli-utils@v$CLI_UTILS_VERSION" >/dev/null
go mod tidy >/dev/null
# tidy may move cli-utils: the build must use exactly the version asked for
go list -m sigs.k8s.io/cli-utils | grep -qx "sigs.k8s.io/cli-utils v$CLI_UTILS_VERSION" \
  || { echo "kstatus: resolved $(go list -m sigs.k8s.io/cli-utils), wanted v$CLI_UTILS_VERSION" >&2; exit 1; }
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/kstatus" .
cp go.mod go.sum "$OUT/"
echo "$SRC_SUM" > "$OUT/source.sha256"
echo '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}' | "$OUT/bin/kstatus"
echo "kstatus (cli-utils v$CLI_UTILS_VERSION): built in $(( $(date +%s) - start ))s into $OUT/bin"
