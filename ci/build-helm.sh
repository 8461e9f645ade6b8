#!/usr/bin/env bash
# Builds helm from the Go module proxy into the versioned cache. A no-op when cached.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-3.21.4}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
OUT="$CACHE/helm-v$HELM_VERSION"
if [ -x "$OUT/bin/helm" ]; then echo "helm v$HELM_VERSION: cached in $OUT/bin"; exit 0; fi
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
mkdir -p "$OUT/bin"
# The chartutil ldflags make offline `helm template` assume Kubernetes 1.36, not 1.20.
GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w \
  -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36" \
  "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
"$OUT/bin/helm" version --short
echo "helm v$HELM_VERSION: built in $(( $(date +%s) - start ))s into $OUT/bin"
