#!/bin/bash
# macOS: double-click in Finder (the first time: right-click > Open, because it was downloaded).
# Finds Python 3.10+ and runs install.py with the same options (see `install.command --help`).
here="$(cd "$(dirname "$0")" && pwd)"

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3.10 \
      /Library/Frameworks/Python.framework/Versions/Current/bin/python3 /opt/homebrew/bin/python3 \
      /usr/local/bin/python3 python3; do
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
  echo "Python 3.10 or newer was not found: install Python 3.12 from python.org (the macOS installer),"
  echo "then double-click this file again."
  status=1
fi
exit "$status"
