#!/usr/bin/env bash
# One GPU call: the small ViT (nets/vit_cifar.net, 50 epochs, its own AdamW recipe) next to Residual:L1+L3
# (netc) and the hand-written reference ResNet-9, on the CIFAR-10 JPEG copy, same machine, same call.
#
# Prepare exactly as for bench/gpu.sh (its header): .data/ with cifar10_jpeg.npz, unpack_cifar10_jpeg.py,
# ref_resnet9.py and wheels/; carry [".data"]. Run (device tool): command "bash bench/gpu_vit.sh",
# timeout_s 600. Writes logs and summary.md under $OUT (default ./out). RUNS (default 1) seeds each.
# Expected cost on an H100/H200: decoding ~20 s, each ResNet-9 run ~15 s, the ViT ~2-3x a ResNet-9 run
# (218 vs 389 MMACs per image but 50 epochs instead of 24, and attention is less efficient per MAC).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
RUNS_DIR=/tmp/netc_gpu_vit_runs; rm -rf "$RUNS_DIR"
RUNS=${RUNS:-1}
EXTRA=${EXTRA:-}   # a CPU smoke test of this script: EXTRA="--epochs 1 --limit 512 --limit-test 256" PYTHON=.venv/bin/python bash bench/gpu_vit.sh
PY=${PYTHON:-python3}
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.md"; }

# environment, header, decoded data ($NPZ): shared with the other GPU scripts
source bench/gpu_setup.sh bench/gpu_vit.sh

log "python .data/ref_resnet9.py --data $NPZ --runs $RUNS $EXTRA"
$PY .data/ref_resnet9.py --data "$NPZ" --runs "$RUNS" $EXTRA 2>&1 | tee "$OUT/ref.log"
log "netc train nets/residual_l1_l3.net --data $NPZ --runs $RUNS $EXTRA"
$PY -m dsl.cli train nets/residual_l1_l3.net --data "$NPZ" --runs "$RUNS" --quiet --out "$RUNS_DIR/resnet9" $EXTRA 2>&1 | tee "$OUT/resnet9.log"
log "netc train nets/vit_cifar.net --data $NPZ --runs $RUNS $EXTRA"
timeout 400 $PY -m dsl.cli train nets/vit_cifar.net --data "$NPZ" --runs "$RUNS" --out "$RUNS_DIR/vit" $EXTRA 2>&1 | tee "$OUT/vit.log"

{
  echo; echo "| what (JPEG copy) | test acc (mean ± std) | seconds per run |"; echo "| --- | --- | --- |"
  for d in resnet9 vit; do
    [ -f "$RUNS_DIR/$d/result.json" ] && $PY -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| netc {sys.argv[2]} | {r['mean_acc']:.4f} ± {r['std_acc']:.4f} | {r['mean_seconds']:.2f} |\")" "$RUNS_DIR/$d/result.json" "$d"
  done
  [ -f "$OUT/ref.log" ] && grep '^RESULT' "$OUT/ref.log" | sed "s/^/| ref_resnet9 | /; s/$/ |/"
  [ -f "$RUNS_DIR/vit/metrics.csv" ] && cp "$RUNS_DIR/vit/metrics.csv" "$OUT/vit_metrics.csv"
} | tee -a "$OUT/summary.md"
