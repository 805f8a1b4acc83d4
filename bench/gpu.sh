#!/usr/bin/env bash
# One GPU call: netc train vs the hand-written reference on the CIFAR-10 JPEG copy, same machine, same call.
#
# Prepare (on the dev machine, from the repo root; .data/ is git-ignored and must be carried):
#   mkdir -p .data && cp ../shared/data/cifar10_jpeg.npz ../shared/data/unpack_cifar10_jpeg.py \
#       ../shared/bench/ref_resnet9.py .data/
#   .venv/bin/pip download --no-deps -d .data/wheels lark graphviz   # the GPU image lacks these two (pure Python)
# Run (device tool): command "bash bench/gpu.sh", carry [".data"], timeout_s 600.
# Writes logs and summary.md under $OUT (default ./out). Set COMPILE=0 to skip the torch.compile runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
RUNS_DIR=/tmp/netc_gpu_runs   # run folders (with checkpoints) stay off $OUT: only 8 small files come back
RUNS=${RUNS:-3}
PY=${PYTHON:-python3}
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.md"; }

# 1-2. environment, header, decoded data ($NPZ): shared with the other GPU scripts
source bench/gpu_setup.sh bench/gpu.sh

# 3. the pair, same call: netc (eager) and the reference (eager)
log "netc train nets/residual_l1_l3.net --data $NPZ --runs $RUNS"
$PY -m dsl.cli train nets/residual_l1_l3.net --data "$NPZ" --runs "$RUNS" --out "$RUNS_DIR/netc_eager" 2>&1 | tee "$OUT/netc_eager.log"
log "python .data/ref_resnet9.py --data $NPZ --runs $RUNS"
$PY .data/ref_resnet9.py --data "$NPZ" --runs "$RUNS" 2>&1 | tee "$OUT/ref_eager.log"

# 4. optional: both with torch.compile (warm-up untimed in both)
if [ "${COMPILE:-1}" = 1 ]; then
  log "netc train ... --compile"
  timeout 240 $PY -m dsl.cli train nets/residual_l1_l3.net --data "$NPZ" --runs "$RUNS" --compile --out "$RUNS_DIR/netc_compile" 2>&1 | tee "$OUT/netc_compile.log"
  log "ref --compile"
  timeout 240 $PY .data/ref_resnet9.py --data "$NPZ" --runs "$RUNS" --compile 2>&1 | tee "$OUT/ref_compile.log"
fi

# 5. summary
{
  echo; echo "| what | test acc (mean ± std) | seconds per run |"; echo "| --- | --- | --- |"
  for d in netc_eager netc_compile; do
    [ -f "$RUNS_DIR/$d/result.json" ] && $PY -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| {sys.argv[2]} | {r['mean_acc']:.4f} ± {r['std_acc']:.4f} | {r['mean_seconds']:.2f} |\")" "$RUNS_DIR/$d/result.json" "$d"
  done
  for f in ref_eager ref_compile; do
    [ -f "$OUT/$f.log" ] && grep '^RESULT' "$OUT/$f.log" | sed "s/^/| $f | /; s/$/ |/"
  done
} | tee -a "$OUT/summary.md"
