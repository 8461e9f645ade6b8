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
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -e "$root[test]" >&2
for example in "$root"/plugins-examples/*/; do
  [ -f "$example/pyproject.toml" ] && "$venv/bin/python" -m pip install --quiet -e "$example" >&2
done
echo "$venv"
