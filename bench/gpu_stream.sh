#!/usr/bin/env bash
# One GPU call: the streamed data path feeding ResNet-18 (nets/zoo/resnet18.net, 100 classes) from a generated
# image folder of 224x224 JPEGs with the ImageNet-style recipe; reports the loader's CPU throughput on this
# machine, netc train's images/s per epoch and the GPU's utilisation while it trains (nvidia-smi, every 200 ms).
#
# Prepare: .data/ as for bench/gpu.sh (wheels of lark and graphviz, which the GPU image lacks, and the reference
# ref_resnet9.py with the JPEG copy, run at the end of the same call); carry [".data"].
# Run (device tool): command "bash bench/gpu_stream.sh", timeout_s 600. Writes logs and summary.md under $OUT.
# Knobs: IMAGES (training JPEGs, default 12800), EPOCHS (2), BATCH (256), WORKERS (default: CPUs - 1),
# NET (default nets/zoo/resnet18.net; nets/zoo/resnet50.net works the same), EXTRA (more netc train flags).
# Expected cost on an H100/H200 with 16 CPUs: writing the JPEGs ~40 s, the loader benchmark ~20 s, training
# ~1 min (the run is bound by JPEG decoding on the CPUs: that is what the utilisation figure shows).
# CPU smoke test of this script:
#   IMAGES=256 EPOCHS=1 BATCH=32 WORKERS=1 EXTRA="--limit 64 --limit-test 32" PYTHON=.venv/bin/python bash bench/gpu_stream.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
IMAGES=${IMAGES:-12800}; EPOCHS=${EPOCHS:-2}; BATCH=${BATCH:-256}; EXTRA=${EXTRA:-}
WORKERS=${WORKERS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}
NET=${NET:-nets/zoo/resnet18.net}
PEAK=$(awk "BEGIN{print ($EPOCHS > 1) ? 1 : 0.5}")   # lr peak (epoch), before the end
DATA=/tmp/netc_stream224; RUNS_DIR=/tmp/netc_gpu_stream_runs; rm -rf "$RUNS_DIR"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.md"; }

# environment and header (as bench/gpu_setup.sh, without the CIFAR-10 files this script does not need)
$PY -c 'import torch, torchvision' || { echo "torch/torchvision missing on this machine" >&2; exit 2; }
$PY -c 'import lark' 2>/dev/null || $PY -m pip install -q --no-index --no-deps .data/wheels/*.whl 2>&1 | tail -3
{
  echo "# bench/gpu_stream.sh $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  $PY -c 'import os, torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA", "cpus", os.cpu_count())'
} | tee "$OUT/summary.md"

# 1. the data: IMAGES training and 1000 test JPEGs of 224x224 in 100 classes
t=$(date +%s)
$PY bench/bench_stream.py --make "$DATA" --images "$IMAGES" --test 1000 --classes 100 --size 224 | tee -a "$OUT/summary.md"
log "data ready in $(( $(date +%s) - t )) s"

# 2. the loader alone on this machine's CPUs
log "bench/bench_stream.py --dir $DATA --workers 0,$WORKERS"
$PY bench/bench_stream.py --dir "$DATA" --images "$IMAGES" --test 1000 --classes 100 --workers "0,$WORKERS" --batch "$BATCH" \
  2>&1 | tee "$OUT/loader.md" | tee -a "$OUT/summary.md"

# 3. training through the streamed path, the GPU's utilisation sampled meanwhile
sed 's/^classes = 1000$/classes = 100/' "$NET" > /tmp/netc_stream_net.net
SMI=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 > "$OUT/gpu_util.csv" 2>/dev/null &
  SMI=$!
fi
log "netc train $NET (classes = 100) --data $DATA --set augment=imagenet --epochs $EPOCHS --batch-size $BATCH --workers $WORKERS $EXTRA"
timeout 420 $PY -m dsl.cli train /tmp/netc_stream_net.net --data "$DATA" --epochs "$EPOCHS" --batch-size "$BATCH" \
  --workers "$WORKERS" --set augment=imagenet --set "mean=(0.485, 0.456, 0.406)" --set "std=(0.229, 0.224, 0.225)" \
  --set "lr=[(0, 0), ($PEAK, 0.2), ($EPOCHS, 0)]" --out "$RUNS_DIR/train" $EXTRA 2>&1 | tee "$OUT/train.log"
[ -n "$SMI" ] && kill "$SMI" 2>/dev/null

# 4. the hand-written reference in the same call (every GPU call runs it: it shows the machine is as usual)
if [ -f .data/ref_resnet9.py ] && [ -f .data/cifar10_jpeg.npz ]; then
  NPZ=.data/decoded/cifar10_jpeg_decoded.npz
  [ -f "$NPZ" ] || $PY .data/unpack_cifar10_jpeg.py .data/decoded --format npz >/dev/null
  log "python .data/ref_resnet9.py --data $NPZ --runs 1 (JPEG copy)"
  timeout 120 $PY .data/ref_resnet9.py --data "$NPZ" --runs 1 2>&1 | tee "$OUT/ref.log" | grep '^RESULT' | tee -a "$OUT/summary.md"
else
  log "reference skipped: carry .data/ as for bench/gpu.sh (cifar10_jpeg.npz, unpack_cifar10_jpeg.py, ref_resnet9.py)"
fi

{
  echo
  [ -f "$RUNS_DIR/train/metrics.csv" ] && cp "$RUNS_DIR/train/metrics.csv" "$OUT/metrics.csv" \
    && $PY -c "import csv,sys; rows=list(csv.DictReader(open(sys.argv[1]))); print('| epoch | images/s | epoch s |'); print('| --- | --- | --- |'); [print(f\"| {r['epoch']} | {float(r['images_s']):.0f} | {float(r['epoch_s']):.1f} |\") for r in rows]" "$RUNS_DIR/train/metrics.csv"
  [ -s "$OUT/gpu_util.csv" ] && $PY -c "import sys; v=[int(x) for x in open(sys.argv[1]).read().split() if x.isdigit()]; busy=[x for x in v if x > 0]; print(f'GPU utilisation while training: mean {sum(busy)/max(len(busy),1):.0f}% over {len(busy)} samples with the GPU in use ({len(v)} samples in all)')" "$OUT/gpu_util.csv"
} | tee -a "$OUT/summary.md"
