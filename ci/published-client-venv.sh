#!/usr/bin/env bash
# A virtualenv holding the published dask-kubernetes client (from PyPI), kept apart from the
# project's .venv, cached in ~/.cache/dask-kubernetes-operator. Prints the venv's python as its
# last line. The end-to-end tests drive our operator with it (tests/e2e/test_published_client.py).
set -euo pipefail
VERSION="${DASK_KUBERNETES_PUBLISHED_VERSION:-2026.3.0}"
CACHE="${DASK_TESTENV_CACHE:-$HOME/.cache/dask-kubernetes-operator}"
VENV="$CACHE/published-client/dask-kubernetes-$VERSION"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.complete" ]; then
  echo "dask-kubernetes $VERSION (published): cached in $VENV" >&2
  echo "$VENV/bin/python"; exit 0
fi
rm -rf "$VENV"; mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet "dask-kubernetes==$VERSION" >&2
# -I and cd /: neither a checkout in the working directory nor PYTHONPATH may shadow it
(cd / && "$VENV/bin/python" -I -c "import dask_kubernetes, importlib.metadata as m; v = m.version('dask-kubernetes'); \
assert v == '$VERSION', v; print('dask-kubernetes', v, 'from', dask_kubernetes.__file__)") >&2
touch "$VENV/.complete"
echo "$VENV/bin/python"
