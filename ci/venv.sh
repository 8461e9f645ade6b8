#!/usr/bin/env bash
# Creates (or refreshes) the project virtualenv at .venv with the package, its test extras and
# the example plugins installed, then prints the venv path. Idempotent; re-running costs seconds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"
"$py" -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"' >&2
if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtualenv $venv" >&2
  "$py" -m venv "$venv" >&2
fi
# Reinstall only when a pyproject.toml changed (editable installs pick up code changes anyway).
shopt -s nullglob
stamp="$venv/.dask-kubernetes-installed"
want="$(cat "$root/pyproject.toml" "$root"/plugins-examples/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing dask-kubernetes[test] and plugins-examples/* into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  args=(-e "$root[test]")
  for example in "$root"/plugins-examples/*/; do
    [ -f "$example/pyproject.toml" ] && args+=(-e "$example")
  done
  # setuptools warns about every editable install with a package-dir mapping; it is noise here.
  "$venv/bin/python" -m pip install --quiet "${args[@]}" 2> >(grep -vE 'BuildBackendWarning|^\s*(!!|\*+|Please be careful|name as your package|with strategy|corresp)|^\s*$' >&2)
  echo "$want" > "$stamp"
fi
echo "$venv"
