#!/usr/bin/env bash
# Reproduce the README screenshots (docs/images/plugin-*.png) in the real GIMP 3 GUI under Xvfb:
# the plug-in's dialog (thumbnail, recent styles, estimate, a preview; and with Advanced opened), its
# progress window with the live preview, the settings window, and a photo from tests/data stylised and shown in GIMP. Needs root (GIMP 3 runs in a Debian 13 chroot on Debian 12,
# see provision_gimp.sh; NST_GIMP_SUITE=sid for GIMP 3.2) and the project's venv (it starts a real nst-engine on loopback).
# The engine uses generated (synthetic) test weights, so the style in the result is weak: the pictures
# show the plug-in, not what real VGG-19 weights produce. Usage: screenshots.sh [OUT_DIR]
# NST_SCREENSHOT_ITERATIONS (default 40) shortens the runs on a slow or busy machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
out=${1:-$repo/docs/images}
cd "$repo"
"$python" "$here/screenshots.py" "$out"
# Then the progress window over a layer with a transparent hole (it replaces screenshots.py's
# plugin-progress.png) and the settings window.
exec "$python" "$here/screenshots_engine.py" "$out"
