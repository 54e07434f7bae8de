#!/usr/bin/env bash
# The prepared GPU check (benchmarks/gpu_check.py): paper-scale training speed on one GPU in at most 8 minutes.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [gpu_check.py options]    # JSON to $OUT/gpu_check.json when $OUT is set
#   bash benchmarks/gpu_check.sh --fetch-wheels                          # here, before carrying the tree to a GPU
#
# The GPU machine has torch, numpy, pandas, scipy, scikit-learn and PyYAML but not sedkit's other dependencies and
# no network: --fetch-wheels downloads the few the check needs (pydantic, tqdm and theirs) into .gpu_wheels/, which
# the run installs into a temporary folder when they are missing. sedkit itself is this folder (no install needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
WHEELS=.gpu_wheels
NEEDED="pydantic tqdm"
if [ "${1:-}" = "--fetch-wheels" ]; then
  rm -rf "$WHEELS"
  for v in 3.10 3.11 3.12 3.13; do
    "$PY" -m pip download -q --only-binary=:all: --platform manylinux2014_x86_64 --python-version "$v" \
      -d "$WHEELS" $NEEDED
  done
  du -sh "$WHEELS"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$PY" -c "import sedkit" 2>/dev/null; then  # the repository root is the package
  ln -s "$PWD" "$tmp/sedkit"
  export PYTHONPATH="$tmp${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" -c "
import importlib.util
print(' '.join(m for m in '$NEEDED'.split() if importlib.util.find_spec(m) is None))")
if [ -n "$missing" ]; then
  [ -d "$WHEELS" ] || { echo "gpu_check: missing $missing and no $WHEELS/ (run --fetch-wheels first)" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$tmp/site" $missing
  export PYTHONPATH="$tmp/site:$PYTHONPATH"
fi
"$PY" -m sedkit.benchmarks.gpu_check "$@"
