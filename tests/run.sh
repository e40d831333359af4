#!/usr/bin/env bash
# The project's test command (README, CI): sets up .venv, lints, and runs every test, real GIMP 3 included.
#
#   bash tests/run.sh [pytest arguments]
#
# Torch comes from PyPI (or this machine's local wheel cache); override with NST_TORCH_SPEC.
# The GIMP tests provision GIMP 3.0 (Debian 13) and 3.2 (Debian unstable) themselves with
# tests/gimp/provision_gimp.sh (apt on a host of that suite, else a root under /var/cache/nst-gimp3; needs
# root) and are skipped, saying why, where that is impossible. As root, provisioning starts here in the
# background, so that it overlaps the venv set-up and the other tests (a lock makes the tests wait for it).
# NST_GIMP_SUITES="trixie" limits the GIMP targets; NST_GIMP_GUI_SUITES those of the GUI tests.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  if [[ -n ${PYTHON:-} ]]; then echo "$PYTHON"; return; fi
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  echo "No Python 3.10+ found: install Python 3.11 and run again." >&2
  exit 2
}

if [[ $(id -u) == 0 && -z ${NST_NO_GIMP_PROVISION:-} ]]; then
  for suite in ${NST_GIMP_SUITES:-trixie sid}; do
    echo "Provisioning GIMP ($suite) in the background: ${TMPDIR:-/tmp}/nst-provision-$suite.log"
    bash tests/gimp/provision_gimp.sh --suite "$suite" >"${TMPDIR:-/tmp}/nst-provision-$suite.log" 2>&1 &
  done
fi

if [[ ! -x .venv/bin/python ]]; then
  "$(pick_python)" -m venv .venv
fi
PY=.venv/bin/python
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  echo "Installing torch (about a minute from a local cache, longer from PyPI)..."
  # shellcheck disable=SC2086
  "$PY" -m pip install -q ${NST_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
fi
"$PY" -m pip install -q -e '.[test,matconvnet]'

"$PY" -m ruff check .
exec "$PY" -m pytest -q "$@"
