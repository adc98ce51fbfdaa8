#!/usr/bin/env bash
# The official Python MCP SDK (PyPI `mcp` 2.3.0) as an independent client of the gateway.
#
#   AGW_BIN=path/to/agent-gateway tests/mcp_clients/run.sh [pytest args...]
#
# Runs every test_*.py in this folder; pytest args (-k, -x, -q, ...) pass through.
#
# Environment:
#   AGW_BIN           the agent-gateway binary to test (required)
#   AGW_DATABASE_URL  optional; default: a fresh SQLite file in a temporary directory.
#                     A postgres:// URL (may carry ?host=/socket/dir) names a server where
#                     the harness creates a fresh database agw_py_<random>, and drops it after.
#   AGW_CACHE         where the virtualenv is kept between runs
#                     (default: $HOME/.cache/agent-gateway)
#
# Needs python3 (>= 3.10, with venv) and, for Postgres, psql. Reaches only PyPI, and only
# when the cached virtualenv is missing. Exit status is pytest's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

: "${AGW_BIN:?set AGW_BIN to the agent-gateway binary}"
[ -x "$AGW_BIN" ] || { echo "mcp_clients: AGW_BIN=$AGW_BIN is not an executable file" >&2; exit 2; }
AGW_BIN=$(cd "$(dirname "$AGW_BIN")" && pwd)/$(basename "$AGW_BIN")
export AGW_BIN

cache=${AGW_CACHE:-$HOME/.cache/agent-gateway}
py=${PYTHON:-python3}
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
stamp=$( { echo "$pyver"; cat "$here/requirements.txt"; } | sha256sum | cut -c1-12)
venv="$cache/venvs/mcp-clients-py$pyver-$stamp"

mkdir -p "$cache/venvs"
(
  # One installer at a time per virtualenv; a half-built one is rebuilt.
  flock 9
  if [ ! -f "$venv/.complete" ]; then
    echo "mcp_clients: creating $venv" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
      -r "$here/requirements.txt"
    touch "$venv/.complete"
  fi
) 9>"$venv.lock"

export PYTHONDONTWRITEBYTECODE=1
cd "$here"
# Every test_*.py here, in name order (each file's tests in file order).
shopt -s nullglob
tests=("$here"/test_*.py)
[ ${#tests[@]} -gt 0 ] || { echo "mcp_clients: no test_*.py in $here" >&2; exit 2; }
exec "$venv/bin/python" -m pytest -c "$here/pytest.ini" --rootdir "$here" \
  "${tests[@]}" "$@"
