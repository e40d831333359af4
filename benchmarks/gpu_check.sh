#!/usr/bin/env bash
# The GPU check (issue 10 point 7): the `gpu` tests, then the benchmark table; 8 minutes at most in all.
#
#   bash benchmarks/gpu_check.sh            # from anywhere; prints the tests' verdicts and one table
#   NST_GPU_CHECK_REPORT=gpu.md bash ...    # also writes the table (markdown) to gpu.md
#
# Made for a fresh machine where the repository is copied and nothing of it is installed: it makes a
# virtual environment (.venv-gpu) that sees the machine's own Python packages (a preinstalled CUDA
# torch, say) and installs only what is missing, by name, from the index pip is configured with.
# Without a CUDA GPU it runs the parts that need none (FLOP counts, a tiny CPU run), and says that it
# skipped the rest. Environment: NST_GPU_CHECK_SECONDS (bound, default 480), PYTHON (interpreter to
# start from), NST_GPU_VENV (the environment's folder).
set -u

BUDGET=${NST_GPU_CHECK_SECONDS:-480}
if [ -z "${NST_GPU_CHECK_BOUNDED:-}" ]; then
    # The whole check, setup included, under one bound.
    NST_GPU_CHECK_BOUNDED=1 timeout --kill-after=15 "$BUDGET" bash "$0" "$@"
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "gpu_check: stopped at its ${BUDGET}-second bound; the rows above are what it measured." >&2
    fi
    exit "$rc"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
START=$SECONDS
left() { echo $(( BUDGET - (SECONDS - START) - 15 )); }
say() { echo "gpu_check: $*"; }

# --- an interpreter: the first of these that has torch, else the first that is Python >= 3.10
has() { "$1" -c "$2" >/dev/null 2>&1; }
BASE=""
for candidate in ${PYTHON:-} python3 python3.12 python3.11 python3.13 python3.10 python; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    has "$candidate" "import sys; assert sys.version_info >= (3, 10)" || continue
    if has "$candidate" "import torch"; then BASE=$candidate; break; fi
    [ -z "$BASE" ] && BASE=$candidate
done
[ -n "$BASE" ] || { say "no Python 3.10 or later found"; exit 2; }
say "starting from $(command -v "$BASE") ($("$BASE" --version 2>&1))"

# --- the environment: its own site-packages first, then the interpreter's (even when that is a venv)
VENV=${NST_GPU_VENV:-$ROOT/.venv-gpu}
if [ ! -x "$VENV/bin/python" ]; then
    "$BASE" -m venv "$VENV" || { say "could not make a virtual environment at $VENV"; exit 2; }
    SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    "$BASE" -c "import site; print('\n'.join(site.getsitepackages()))" > "$SITE/_gpu_check_base.pth"
fi
PY="$VENV/bin/python"
MISSING=$("$PY" - <<'EOF'
import importlib.util

needed = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "PIL": "pillow",
          "cv2": "opencv-python-headless", "scipy": "scipy", "pytest": "pytest", "pytest_timeout": "pytest-timeout"}
print(" ".join(package for module, package in needed.items() if importlib.util.find_spec(module) is None))
EOF
)
if [ -n "$MISSING" ]; then
    say "installing $MISSING (from pip's configured index)"
    timeout $(( $(left) / 2 )) "$PY" -m pip install -q $MISSING || say "pip could not install all of: $MISSING"
fi
"$PY" -c "import torch" || { say "torch is not importable: nothing can be checked"; exit 2; }

# The engine runs from the checkout itself: no build step that could want the network.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 4)}
"$PY" -c "import torch; print('gpu_check: torch', torch.__version__, 'CUDA', torch.version.cuda,
      '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

# --- synthetic VGG-19 weights (real ones can't be downloaded), made once and shared by tests and benchmark
export NST_TEST_WEIGHTS_DIR=${NST_TEST_WEIGHTS_DIR:-$ROOT/.gpu-check-weights}
WEIGHTS=$(timeout $(( $(left) / 2 )) "$PY" - <<'EOF'
import os
from pathlib import Path

from nst_engine.weights.synthetic import make_test_weights

photos = sorted(Path("tests/data").glob("*.jpg"))
print(make_test_weights(Path(os.environ["NST_TEST_WEIGHTS_DIR"]) / "torchvision", "torchvision", photos, seed=0))
EOF
) || { say "could not make the synthetic weights"; exit 2; }
say "weights $WEIGHTS ($(( SECONDS - START )) s so far)"

# --- 1. the tests that need CUDA (each skips, saying so, without it)
TEST_SECONDS=$(( $(left) / 2 < 240 ? $(left) / 2 : 240 ))
timeout "$TEST_SECONDS" "$PY" -m pytest -m gpu tests/test_gpu.py -v -rs -p no:cacheprovider --timeout=200
TESTS=$?
say "gpu tests exit status $TESTS ($(( SECONDS - START )) s so far)"

# --- 2. the benchmark table, in the time that is left
BENCH_SECONDS=$(left)
timeout "$BENCH_SECONDS" "$PY" benchmarks/gpu_check.py --weights "$WEIGHTS" --budget $(( BENCH_SECONDS - 10 )) \
    ${NST_GPU_CHECK_REPORT:+--out "$NST_GPU_CHECK_REPORT"} "$@"
BENCH=$?
say "benchmark exit status $BENCH; $(( SECONDS - START )) s in all"
[ "$TESTS" -eq 0 ] && [ "$BENCH" -eq 0 ]
