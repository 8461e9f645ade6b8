#!/usr/bin/env bash
# Builds the images the real node runs, without Docker and without pulling anything, and pushes
# them into the local registry's storage (containerd on the node uses that registry as mirror of
# ghcr.io, docker.io and registry.k8s.io, so manifests keep their usual image names):
#   base      Debian bookworm + python3 (mmdebstrap), tagged as the FROM of our Dockerfile and
#             as docker.io/library/python:3 (tests and docs use it for small helper pods)
#   operator  ghcr.io/dask/dask-kubernetes-operator:<chart appVersion>, from the unchanged Dockerfile
#   dask      ghcr.io/dask/dask:latest and :<version>, dask/distributed as in the project's venv
#   pause     registry.k8s.io/pause:3.10 (ci/node-src/pause)
#   coredns   registry.k8s.io/coredns/coredns:v<version> (the binary of ci/build-coredns.sh)
# Each image is rebuilt only when the hash of its inputs changes (a stamp file per image).
# Needs root and ci/build-node.sh's packages. Prints the registry storage directory last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
IMG="$CACHE/images"; REGISTRY_DATA="$CACHE/registry"; STORE="$IMG/containers"
mkdir -p "$IMG" "$REGISTRY_DATA"
# One build at a time: several checkouts on this machine share the cache.
exec 9>"$IMG/lock"; flock 9

# buildah keeps its layers in the cache, not in the host's /var/lib/containers.
B=(buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver overlay)
# --network=host: buildah's default network would create a bridge, iptables chains and turn on
# ip_forward on the host. The host's CA bundle is mounted (read-only, never copied into an
# image) so pip inside a build trusts the same certificate authorities as the host does.
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUD=("${B[@]}" bud --pull=never --network=host --layers -v "$CA_BUNDLE:$CA_BUNDLE:ro")
BASE=localhost/dask-localcluster-base:bookworm
DOCKERFILE_FROM=docker.io/library/python:3.12-slim-bookworm  # what our Dockerfile's FROM names
PYTHON=docker.io/library/python:3

say() { echo "images: $*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
tree_hash() { (cd "$root" && find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
# up_to_date NAME HASH: true when NAME was last built from inputs with this HASH.
up_to_date() { [ "$(cat "$IMG/$1.stamp" 2>/dev/null)" = "$2" ] && "${B[@]}" inspect --type image "$3" >/dev/null 2>&1; }
stamp() { echo "$2" > "$IMG/$1.stamp"; }
# timed CMD...: runs CMD with its output hidden (kept in images/last-build.log), says how long it took.
timed() { local s; s=$(date +%s); "$@" > "$IMG/last-build.log" 2>&1 || { cat "$IMG/last-build.log" >&2; return 1; }; say "  took $(( $(date +%s) - s ))s"; }

# 1. The Debian root filesystem (changes only with this script's package list).
rootfs_hash=$(echo "bookworm minbase python3 python3-venv python3-pip ca-certificates v1" | sha256sum | cut -c1-16)
if [ "$(cat "$IMG/rootfs.stamp" 2>/dev/null)" != "$rootfs_hash" ] || [ ! -s "$IMG/rootfs.tar" ]; then
  say "Debian bookworm root filesystem (mmdebstrap, ~1-2 min)"
  rm -f "$IMG/rootfs.tar"
  timed nice -n 10 mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$IMG/rootfs.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  stamp rootfs "$rootfs_hash"
fi

# 2. The base image; `python` too, as the official python images have it.
base_hash=$(hash_of "$IMG/rootfs.stamp" <(echo base-v1))
if ! up_to_date base "$base_hash" "$BASE"; then
  say "base image $BASE (also tagged $DOCKERFILE_FROM)"
  c=$("${B[@]}" from scratch)
  "${B[@]}" add "$c" "$IMG/rootfs.tar" / >/dev/null
  "${B[@]}" run --network=host "$c" -- ln -sf python3 /usr/bin/python
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd python3 "$c"
  "${B[@]}" commit --quiet --rm "$c" "$BASE" >/dev/null
  "${B[@]}" tag "$BASE" "$DOCKERFILE_FROM"
  stamp base "$base_hash"
fi
"${B[@]}" tag "$BASE" "$PYTHON"  # cheap, idempotent

# 3. The operator image from the project's Dockerfile, tagged with the chart's appVersion
#    (what the chart renders when installed from a checkout).
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/chart/Chart.yaml")
OPERATOR="ghcr.io/dask/dask-kubernetes-operator:$app_version"
operator_hash=$(hash_of "$IMG/base.stamp" <(echo "$OPERATOR") <(tree_hash Dockerfile .dockerignore pyproject.toml README.md controller dask_kubernetes))
if ! up_to_date operator "$operator_hash" "$OPERATOR"; then
  say "operator image $OPERATOR from Dockerfile"
  timed "${BUD[@]}" --quiet -t "$OPERATOR" -f "$root/Dockerfile" "$root"
  stamp operator "$operator_hash"
fi

# 4. The Dask image, at the versions the project's virtualenv runs.
venv_python="$root/.venv/bin/python"
[ -x "$venv_python" ] || venv_python="$(bash "$root/ci/venv.sh")/bin/python"
read -r dask_version distributed_version < <("$venv_python" -c 'import dask, distributed; print(dask.__version__, distributed.__version__)')
DASK="ghcr.io/dask/dask:$dask_version"
dask_hash=$(hash_of "$IMG/base.stamp" "$root/ci/node-src/dask-image/Containerfile" <(echo "$dask_version $distributed_version"))
if ! up_to_date dask "$dask_hash" "$DASK"; then
  say "Dask image $DASK (dask $dask_version, distributed $distributed_version)"
  timed "${BUD[@]}" --quiet --build-arg "DASK_VERSION=$dask_version" \
    --build-arg "DISTRIBUTED_VERSION=$distributed_version" -t "$DASK" -t ghcr.io/dask/dask:latest \
    -f "$root/ci/node-src/dask-image/Containerfile" "$root/ci/node-src/dask-image"
  stamp dask "$dask_hash"
fi

# 5. pause: one static binary.
PAUSE=registry.k8s.io/pause:3.10
pause_hash=$(hash_of "$root/ci/node-src/pause/pause.c")
if ! up_to_date pause "$pause_hash" "$PAUSE"; then
  say "pause image $PAUSE"
  gcc -static -Os -o "$IMG/pause" "$root/ci/node-src/pause/pause.c"
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy "$c" "$IMG/pause" /pause >/dev/null
  "${B[@]}" config --entrypoint '["/pause"]' "$c"
  "${B[@]}" commit --quiet --rm "$c" "$PAUSE" >/dev/null
  stamp pause "$pause_hash"
fi

# 6. CoreDNS: the binary in an image of its own.
COREDNS="registry.k8s.io/coredns/coredns:v$COREDNS_VERSION"
coredns_bin="$CACHE/coredns-v$COREDNS_VERSION/bin/coredns"
[ -x "$coredns_bin" ] || { echo "images: $coredns_bin is missing (ci/build-node.sh builds it)" >&2; exit 1; }
coredns_hash=$(hash_of "$coredns_bin")
if ! up_to_date coredns "$coredns_hash" "$COREDNS"; then
  say "CoreDNS image $COREDNS"
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy "$c" "$coredns_bin" /coredns >/dev/null
  "${B[@]}" config --entrypoint '["/coredns"]' "$c"
  "${B[@]}" commit --quiet --rm "$c" "$COREDNS" >/dev/null
  stamp coredns "$coredns_hash"
fi

# 7. Into the registry's storage, which every real node serves to its containerd. Pushed only
#    when something changed since the last push. Repository names drop the registry host, as a
#    mirror is asked for them (ghcr.io/dask/dask:latest -> <mirror>/v2/dask/dask/manifests/latest).
IMAGES=("$OPERATOR" "$DASK" ghcr.io/dask/dask:latest "$PYTHON" "$PAUSE" "$COREDNS")
push_hash=$(hash_of "$IMG"/*.stamp <(printf '%s\n' "${IMAGES[@]}"))
if [ "$(cat "$REGISTRY_DATA/pushed.stamp" 2>/dev/null)" != "$push_hash" ]; then
  say "pushing ${#IMAGES[@]} images into the local registry ($REGISTRY_DATA)"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  conf="$IMG/registry-push.yml"
  printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$REGISTRY_DATA" "$port" > "$conf"
  docker-registry serve "$conf" > "$IMG/registry-push.log" 2>&1 & registry_pid=$!
  trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  for image in "${IMAGES[@]}"; do
    repo="${image#*/}"
    "${B[@]}" push --quiet --tls-verify=false "$image" "docker://127.0.0.1:$port/$repo"
    say "  pushed $image"
  done
  echo "$push_hash" > "$REGISTRY_DATA/pushed.stamp"
fi
say "up to date: ${IMAGES[*]}"
echo "$REGISTRY_DATA"
