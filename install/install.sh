#!/usr/bin/env bash
# Linux: double-click (choose "Run in Terminal") or run `bash install/install.sh [options]`.
# Finds Python 3.10+ and runs install.py with the same options (see `install.sh --help`).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3.10 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if python="$(find_python)"; then
  "$python" "$here/install.py" "$@"
  status=$?
else
  echo "Python 3.10 or newer was not found: install it with your distribution's software centre or"
  echo "package manager (on Debian/Ubuntu: sudo apt install python3 python3-venv), then run this installer again."
  status=1
fi

# Started by double-click (a terminal of its own): keep the window open so the messages can be read.
if [[ -t 0 && -t 1 && ${SHLVL:-1} -le 1 && -z ${NST_INSTALL_NO_PAUSE:-} ]]; then
  read -r -p "Press Enter to close this window. " _
fi
exit "$status"
