#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the Go module
# proxy into a versioned cache. A no-op when the cache already holds them.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0, which the proxy does not serve, so
# we build from a throw-away wrapper module that replaces each one with its published v0.M.P tag.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-1.36.3}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
OUT="$CACHE/k8s-v$K8S_VERSION"
# K8S_BINS: which commands (ci/build-node.sh asks for the kubelet and kube-proxy).
read -r -a BINS <<< "${K8S_BINS:-kube-apiserver kube-controller-manager kube-scheduler kubectl}"
have_all() { for b in "${BINS[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done; }
if have_all; then echo "k8s v$K8S_VERSION: cached in $OUT/bin"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
W="$CACHE/src/k8sbins-${BINS[0]}-v$K8S_VERSION"; rm -rf "$W"; mkdir -p "$W" "$OUT/bin"; cd "$W"
go mod init testenv.invalid/k8sbins >/dev/null 2>&1

echo "k8s v$K8S_VERSION: resolving modules"
KINFO=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION")
KMOD=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert not d.get("Error"), d; print(d["GoMod"])' "$KINFO")
KCOMMIT=$(python3 -c 'import json,sys; print((json.loads(sys.argv[1]).get("Origin") or {}).get("Hash",""))' "$KINFO")

go mod edit -json "$KMOD" | python3 -c '
import json, sys
m = json.load(sys.stdin); ver = sys.argv[1]; mods = set()
for r in m.get("Require") or []:
    if r["Path"].startswith("k8s.io/") and r["Version"] == "v0.0.0": mods.add(r["Path"])
for r in m.get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"): mods.add(r["Old"]["Path"])
print("go", m["Go"])
for g in m.get("Godebug") or []: print("godebug", g["Key"] + "=" + g["Value"])
for p in sorted(mods): print("replace", p, ver)
' "v0.${K8S_VERSION#1.}" > plan.txt
while read -r kind a b; do
  case "$kind" in
    go)      go mod edit -go="$a" ;;
    godebug) go mod edit -godebug="$a" ;;
    replace) go mod edit -replace="$a=$a@$b" ;;
  esac
done < plan.txt

pkgs=()
for b in "${BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
go get -tool $(for p in "${pkgs[@]}"; do echo "$p@v$K8S_VERSION"; done)
echo "k8s v$K8S_VERSION: modules resolved after $(( $(date +%s) - start ))s; compiling"

MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
LDF="-s -w"
for kv in "gitVersion=v$K8S_VERSION" "gitMajor=1" "gitMinor=$MINOR" "gitTreeState=clean" \
          "gitCommit=$KCOMMIT" "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
  LDF="$LDF -X 'k8s.io/component-base/version.$kv' -X 'k8s.io/client-go/pkg/version.$kv'"
done
go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$LDF" -o "$OUT/bin/" "${pkgs[@]}"
"$OUT/bin/${BINS[0]}" --version
cp go.mod "$OUT/${BINS[0]}.go.mod"; cp go.sum "$OUT/${BINS[0]}.go.sum"
echo "k8s v$K8S_VERSION: built in $(( $(date +%s) - start ))s into $OUT/bin"
