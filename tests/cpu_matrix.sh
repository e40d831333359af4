#!/usr/bin/env bash
# By hand, not part of CI: the numeric test modules under each kernel set torch can pick on this CPU
# (ATEN_CPU_CAPABILITY=default, avx2, avx512: torch reads it at start-up and falls back to what the CPU
# has) and with 1 and 2 threads, since users and CI run on CPUs we don't choose (issue 18). The
# convolutions and matrix products come from oneDNN and MKL, which ignore that variable: each cell caps
# them to the same instruction set (ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS), as a CPU without
# AVX-512 would. Tests run in random order (pytest-randomly): each cell prints its seed.
#
#   bash tests/cpu_matrix.sh [pytest arguments]     e.g. -x, or other modules to run instead
#
# PYTHON picks the interpreter (default .venv/bin/python), CAPABILITIES the cells' kernel sets. Each cell prints the capability torch really
# used and pytest's summary line; the script fails if any cell does. ~6 cells x 2-5 minutes on 2 cores.
# test_engine.py's tolerances were measured on the same cells (see the comments there); add it as an
# argument to run it too (it doubles the time).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# The modules whose assertions are on numbers that depend on kernels and threads (costs, pictures,
# gradients); the rest check structure, not rounding.
NUMERIC=(tests/test_costs.py tests/test_formats.py tests/test_regions.py tests/test_frames.py tests/test_frames_measured.py)
if [[ $# -gt 0 && $1 != -* ]]; then NUMERIC=(); fi

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for capability in ${CAPABILITIES:-default avx2 avx512}; do
  for threads in 1 2; do
    export ATEN_CPU_CAPABILITY=$capability OMP_NUM_THREADS=$threads
    case $capability in
      default) export ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 ;;
      avx2) export ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ;;
      *) export ONEDNN_MAX_CPU_ISA=ALL; unset MKL_ENABLE_INSTRUCTIONS ;;
    esac
    used=$("$PYTHON" -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')
    started=$SECONDS
    seed=$RANDOM
    PYTHONPATH=$PWD "$PYTHON" -m pytest -q -p no:cacheprovider -p randomly --randomly-seed="$seed" "${NUMERIC[@]}" "$@" \
      >"$log" 2>&1
    status=$?
    summary=$(tail -n 1 "$log")
    [[ $status -eq 0 ]] || grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /'
    printf '%-8s (torch uses %-7s) %s thread(s): %s [%d s; --randomly-seed=%s]\n' "$capability" "$used" "$threads" \
      "$summary" $((SECONDS - started)) "$seed"
    [[ $status -eq 0 ]] || failed=1
  done
done
exit $failed
