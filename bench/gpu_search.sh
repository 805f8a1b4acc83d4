#!/usr/bin/env bash
# GPU benchmark of `netc search` (issue 5), in ONE call of the device tool.
#
#   1. here, once:   bash bench/gpu_search.sh prepare
#        copies ../shared/data/cifar10_jpeg.npz (+ its unpack script) into .data/ (git-ignored) and
#        downloads the lark wheel into .data/wheels/ (the GPU image has torch, numpy, click, rich,
#        matplotlib, pillow, but not lark); 18 MB travel with the call. (bench/gpu.sh's preparation
#        makes the same .data/ layout; either one will do.)
#   2. device call:  run(command="bash bench/gpu_search.sh", carry=[".data"], timeout_s=560)
#      expected: ~1 min machine start, ~20 s decoding, A ~2 min, B ~2 min on an H100/H200.
#
# Measures, on the JPEG copy of CIFAR-10:
#   A. the Residual search space (nets/search_residual.net: Backbone + 7 Residual variants) at
#      20 epochs, 1 run per variant: total wall time of `netc search`, table, plot;
#   B. seconds per run of the 20-epoch Backbone and Residual:L1+L3 inside `netc search`
#      (a second seed of each, resumed into A's folder, so each has 2 runs in the search)
#      versus a lone `netc train` of the same network, 2 runs, in the same call.
# Outputs under $OUT (at most 8 files): log.txt, summary.txt, results.csv, report.md, search_residual.png,
# train_backbone.json, train_l1l3.json.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "prepare" ]; then
    mkdir -p .data/wheels
    cp ../shared/data/cifar10_jpeg.npz ../shared/data/unpack_cifar10_jpeg.py .data/
    ls .data/wheels/lark-*.whl >/dev/null 2>&1 || python3 -m pip download -q --no-deps -d .data/wheels lark
    ls -la .data .data/wheels
    exit 0
fi

OUT=${OUT:-out/gpu_search}
EPOCHS=${EPOCHS:-20}     # a CPU smoke test of this script: EPOCHS=2 EXTRA="--limit 512 --limit-test 256" bash bench/gpu_search.sh
EXTRA=${EXTRA:-}
PY=${PY:-python3}        # the GPU image's python3 holds torch; here: PY=.venv/bin/python
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! $PY -c "import lark" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .data/wheels/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
NETC="$PY -m dsl.cli"
LOG=$OUT/log.txt
exec > >(tee "$LOG") 2>&1

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
git log --oneline -1 2>/dev/null || true

echo "== data: decoding the JPEG copy once (not timed below)"
DECODED=${DECODED:-/tmp/netc_cifar10_jpeg}     # outside the repo: 184 MB must never travel back
DATA=$DECODED/cifar10_jpeg_decoded.npz
t0=$(date +%s.%N)
[ -f "$DATA" ] || $PY .data/unpack_cifar10_jpeg.py "$DECODED" --format npz || exit 1
echo "decoded in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"

S=runs/gpu-search
rm -rf "$S" runs/gpu-train-*
echo "== A. netc search nets/search_residual.net --epochs $EPOCHS --runs 1 $EXTRA"
t0=$(date +%s.%N)
$NETC search nets/search_residual.net --data "$DATA" --epochs $EPOCHS --runs 1 --out "$S" $EXTRA
rc=$?
tA=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
echo "search A: exit $rc, total wall time ${tA} s (process start, data onto the GPU, warm-ups, 8 runs)"

echo "== B1. a second seed of Backbone and Residual:L1+L3 inside netc search (resumes A's folder)"
t0=$(date +%s.%N)
$NETC search nets/search_residual.net --data "$DATA" --epochs $EPOCHS --runs 2 --out "$S" $EXTRA \
    --variant Backbone --variant Residual:L1+L3
tB1=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")

echo "== B2. lone netc train, same networks, $EPOCHS epochs, 2 runs each"
t0=$(date +%s.%N)
$NETC train nets/backbone_6_bn_init.net --data "$DATA" --epochs $EPOCHS --runs 2 --out runs/gpu-train-backbone --quiet $EXTRA
tB2a=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
t0=$(date +%s.%N)
$NETC train nets/residual_l1_l3.net --data "$DATA" --epochs $EPOCHS --runs 2 --out runs/gpu-train-l1l3 --quiet $EXTRA
tB2b=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")

echo "== report"
$NETC report "$S" --markdown --target 0.91 | tee "$OUT/report.md"
$NETC report "$S" --plot "$OUT/search_residual.png" --target 0.91 --title "Residual search, $EPOCHS epochs, CIFAR-10 JPEG copy"
$NETC report runs/gpu-train-backbone runs/gpu-train-l1l3 --markdown --target 0.91
cp "$S/results.csv" "$OUT/results.csv"
cp runs/gpu-train-backbone/result.json "$OUT/train_backbone.json" 2>/dev/null
cp runs/gpu-train-l1l3/result.json "$OUT/train_l1l3.json" 2>/dev/null

$PY - "$S/results.csv" runs/gpu-train-backbone/result.json runs/gpu-train-l1l3/result.json \
    "$tA" "$tB1" "$tB2a" "$tB2b" "$EPOCHS" <<'PY' | tee "$OUT/summary.txt"
import csv, json, statistics, sys
res, tb, tl, tA, tB1, tB2a, tB2b, ep = sys.argv[1:]
rows = list(csv.DictReader(open(res)))
print(f"A: Residual search space, {ep} epochs, 1 run per variant: {float(tA):.1f} s wall for the whole netc search")
per = {}
for r in rows:
    per.setdefault(r["variant"], []).append(r)
print(f"{'network':<20} {'runs':>4} {'test acc':>8} {'s/run':>6}")
for v, rs in sorted(per.items(), key=lambda kv: statistics.mean(float(r['seconds']) for r in kv[1])):
    a = statistics.mean(float(r["test_acc"]) for r in rs); s = statistics.mean(float(r["seconds"]) for r in rs)
    print(f"{v:<20} {len(rs):>4} {a:>8.4f} {s:>6.2f}")
def train(p):
    try:
        d = json.load(open(p)); return [r["seconds"] for r in d["runs"]], [r["test_acc"] for r in d["runs"]]
    except Exception as e:
        return [], []
print(f"B: seconds per run ({ep} epochs), inside netc search vs lone netc train (same call; B1 {float(tB1):.0f} s, "
      f"train wall {float(tB2a):.0f} s + {float(tB2b):.0f} s)")
for name, p in (("Backbone", tb), ("Residual:L1+L3", tl)):
    s = [float(r["seconds"]) for r in per.get(name, [])]
    a = [float(r["test_acc"]) for r in per.get(name, [])]
    ts, ta = train(p)
    if s and ts:
        print(f"{name:<16} search {statistics.mean(s):6.2f} s/run ({len(s)} runs, acc {statistics.mean(a):.4f})   "
              f"train {statistics.mean(ts):6.2f} s/run ({len(ts)} runs, acc {statistics.mean(ta):.4f})   "
              f"ratio search/train {statistics.mean(s) / statistics.mean(ts):.3f}")
    else:
        print(f"{name:<16} missing results (search {len(s)} runs, train {len(ts)} runs)")
PY
echo "done"
