#!/usr/bin/env bash
# Install requirements.lock (every pin with its hashes) and the project (editable) into a venv.
#   usage: scripts/install-venv.sh VENV_PYTHON [LOCK]
# With uv when it can be bootstrapped: pip installs uv from its own pin and hashes in the lock, then
# uv installs the whole lock (hash-checked, no dependency resolution) many times faster than pip.
# Falls back to pip when uv cannot be installed (no wheel for this platform) or fails.
set -euo pipefail
py=$1
lock=${2:-requirements.lock}
bin=$(dirname "$py")

# the project's own modules (an editable install is never compiled by the installer), for the same reason
compile_project() {
  "$py" -m compileall -q lib >/dev/null
}

uv_pin=$(mktemp)
trap 'rm -f "$uv_pin"' EXIT
# uv's block of the lock: "uv==X \" and its "--hash=..." continuation lines
awk '/^uv==/ { p = 1 } p { print } p && !/\\$/ { exit }' "$lock" >"$uv_pin"

if [ -s "$uv_pin" ] && "$py" -m pip install --quiet --require-hashes --no-deps -r "$uv_pin"; then
  # --compile-bytecode: uv leaves bytecode to the first import by default, and where the environment
  # sets PYTHONDONTWRITEBYTECODE no import ever writes it, so every process (each notebook kernel, each
  # `userops` command) compiled pandas, scipy, matplotlib ... from source again: twice the CPU of a
  # notebook run (pip compiles at install by default)
  if "$bin/uv" pip install --quiet --require-hashes --no-deps --compile-bytecode --python "$py" -r "$lock" &&
    "$bin/uv" pip install --quiet --no-deps --python "$py" -e .; then
    compile_project
    exit 0
  fi
  echo "install-venv: uv failed; installing with pip" >&2
else
  echo "install-venv: uv unavailable; installing with pip" >&2
fi
"$py" -m pip install --quiet --require-hashes --no-deps -r "$lock"
"$py" -m pip install --quiet --no-deps -e .
compile_project
