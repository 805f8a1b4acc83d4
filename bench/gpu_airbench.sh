#!/usr/bin/env bash
# One GPU call: nets/airbench94.net (airbench94's network and recipe) trained by `netc train --runs 5` on the
# CIFAR-10 JPEG copy, eager and with --compile, and the hand-written reference ResNet-9 (1 run) in the same call.
# Targets (issue 13, H200, same data): airbench94's own script 90.64% ± 0.23 in 2.06 s per run; netc must reach
# >= 90.6% mean in <= 1.0x that time, timed as airbench times (data on the GPU, warm-up/compilation excluded).
#
# Prepare exactly as for bench/gpu.sh (its header): .data/ with cifar10_jpeg.npz, unpack_cifar10_jpeg.py,
# ref_resnet9.py and wheels/; carry [".data"]. Run (device tool): command "bash bench/gpu_airbench.sh",
# timeout_s 600. Writes logs and summary.md under $OUT (default ./out).
# CPU smoke test: EXTRA="--epochs 1 --limit 2048 --limit-test 512" RUNS=1 COMPILE=0 PYTHON=.venv/bin/python bash bench/gpu_airbench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
RUNS_DIR=/tmp/netc_gpu_airbench_runs; rm -rf "$RUNS_DIR"
RUNS=${RUNS:-5}
EXTRA=${EXTRA:-}
PY=${PYTHON:-python3}
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.md"; }

# environment, header, decoded data ($NPZ): shared with the other GPU scripts
source bench/gpu_setup.sh bench/gpu_airbench.sh

log "netc train nets/airbench94.net --data $NPZ --runs $RUNS $EXTRA"
$PY -m dsl.cli train nets/airbench94.net --data "$NPZ" --runs "$RUNS" --out "$RUNS_DIR/eager" $EXTRA 2>&1 | tee "$OUT/airbench_eager.log"
if [ "${COMPILE:-1}" = 1 ]; then
  log "netc train nets/airbench94.net --data $NPZ --runs $RUNS --compile $EXTRA"
  timeout 300 $PY -m dsl.cli train nets/airbench94.net --data "$NPZ" --runs "$RUNS" --compile --out "$RUNS_DIR/compiled" $EXTRA 2>&1 | tee "$OUT/airbench_compiled.log"
fi
log "python .data/ref_resnet9.py --data $NPZ --runs 1 ${EXTRA:+--epochs 1 --limit 2048}"
$PY .data/ref_resnet9.py --data "$NPZ" --runs 1 ${EXTRA:+--epochs 1 --limit 2048} 2>&1 | tee "$OUT/ref.log"

{
  echo; echo "| what (JPEG copy) | test acc (mean ± std) | seconds per run |"; echo "| --- | --- | --- |"
  for d in eager compiled; do
    [ -f "$RUNS_DIR/$d/result.json" ] && $PY -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| netc airbench94 {sys.argv[2]} | {r['mean_acc']:.4f} ± {r['std_acc']:.4f} | {r['mean_seconds']:.2f} |\")" "$RUNS_DIR/$d/result.json" "$d"
    [ -f "$RUNS_DIR/$d/metrics.csv" ] && cp "$RUNS_DIR/$d/metrics.csv" "$OUT/airbench_${d}_metrics.csv"
  done
  [ -f "$OUT/ref.log" ] && grep '^RESULT' "$OUT/ref.log" | sed "s/^/| ref_resnet9 | /; s/$/ |/"
} | tee -a "$OUT/summary.md"
