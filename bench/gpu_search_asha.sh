#!/usr/bin/env bash
# GPU benchmark of the search strategies (issue 23), in ONE call of the device tool: the article's
# space (27 variants: each layer with a residual block, an extra conv_bn, or neither), trained on the
# CIFAR-10 JPEG copy at full size: the grid against ASHA (random sampling, --prune asha) and TPE, by
# bench/bench_search.py --article; and the hand-written reference (../shared/bench/ref_resnet9.py) in
# the same call, as every GPU figure must have.
#
# Prepare (dev machine, repo root; .data/ is git-ignored and travels with the call, ~19 MB):
#   bash bench/gpu_search_asha.sh prepare
# Run (device tool): command "bash bench/gpu_search_asha.sh", carry [".data"], timeout_s 580.
#   Expected on an H100: ~1 min start, ~20 s decoding, the reference ~30 s, the grid (27 runs of
#   9 epochs) ~3 min, ASHA and TPE ~1.5 min together (one sampler seed; SEEDS=3 for three).
# Writes under $OUT: summary.md, search.log, figures.json, ref.log.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "prepare" ]; then
  mkdir -p .data/wheels .data/wheels-search
  cp ../shared/data/cifar10_jpeg.npz ../shared/data/unpack_cifar10_jpeg.py ../shared/bench/ref_resnet9.py .data/
  ls .data/wheels/lark-*.whl >/dev/null 2>&1 || .venv/bin/pip download -q --no-deps -d .data/wheels lark graphviz
  # Optuna and its pure-Python dependencies (the GPU image has numpy, and markupsafe with torch's jinja2)
  .venv/bin/pip download -q --no-deps -d .data/wheels-search optuna alembic mako colorlog tqdm packaging \
    typing_extensions
  .venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.10 --implementation py --abi none \
    --platform any -d .data/wheels-search sqlalchemy
  ls -la .data .data/wheels .data/wheels-search
  exit 0
fi

OUT=${OUT:-out/gpu_search_asha}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
SEEDS=${SEEDS:-1}
EPOCHS=${EPOCHS:-9}
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.md"; }
export PYTHONUNBUFFERED=1

# environment, header, decoded data ($NPZ), as the other GPU scripts
source bench/gpu_setup.sh bench/gpu_search_asha.sh
# Optuna: each missing module from the carried wheels, into a folder of its own (nothing the image has is replaced)
missing=()
for mod in optuna alembic mako colorlog tqdm packaging typing_extensions sqlalchemy; do
  $PY -c "import $mod" 2>/dev/null || missing+=(.data/wheels-search/${mod}-*.whl)
done
[ ${#missing[@]} -eq 0 ] || $PY -m pip install -q --no-index --no-deps --target /tmp/netc_site "${missing[@]}"
export PYTHONPATH=$PWD:${PYTHONPATH:+$PYTHONPATH:}/tmp/netc_site
$PY -c "import optuna; print('optuna', optuna.__version__)" | tee -a "$OUT/summary.md" || exit 2

log "python .data/ref_resnet9.py --data $NPZ --runs 1 (the yardstick, same call)"
$PY .data/ref_resnet9.py --data "$NPZ" --runs 1 2>&1 | tee "$OUT/ref.log" | tail -3
grep '^RESULT' "$OUT/ref.log" | tee -a "$OUT/summary.md"

log "python bench/bench_search.py --article $NPZ --device cuda --epochs $EPOCHS --seeds $SEEDS"
$PY bench/bench_search.py --article "$NPZ" --device cuda --epochs "$EPOCHS" --seeds "$SEEDS" \
  --out /tmp/netc_bench_search --json "$OUT/figures.json" 2>&1 | tee "$OUT/search.log"
tail -8 "$OUT/search.log" >> "$OUT/summary.md"
log "done"
