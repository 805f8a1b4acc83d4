# Sourced by the one-call GPU scripts (bench/gpu.sh, bench/gpu_vit.sh) after they set OUT, PY and log():
# checks the carried .data/ files, installs the small pure-Python deps the GPU image lacks, writes the
# machine's header to $OUT/summary.md and decodes the CIFAR-10 JPEG copy once into $NPZ.
# $1: the calling script's name, for the header.

[ -f .data/cifar10_jpeg.npz ] && [ -f .data/ref_resnet9.py ] && [ -f .data/unpack_cifar10_jpeg.py ] \
  || { echo "missing .data/ files: see the header of bench/gpu.sh" >&2; exit 2; }

# torch must already be there; the small pure-Python deps come from .data/wheels if missing
$PY -c 'import torch, torchvision' || { echo "torch/torchvision missing on this machine" >&2; exit 2; }
$PY -c 'import lark' 2>/dev/null \
  || $PY -m pip install -q --no-index --no-deps .data/wheels/*.whl 2>&1 | tail -3
$PY -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || true   # optional: python -m dsl.cli works anyway
{
  echo "# $1 $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA")'
} | tee "$OUT/summary.md"

# the JPEG copy, decoded once (about 20 s)
NPZ=.data/decoded/cifar10_jpeg_decoded.npz
if [ ! -f "$NPZ" ]; then
  t=$(date +%s); $PY .data/unpack_cifar10_jpeg.py .data/decoded --format npz; log "decoded in $(( $(date +%s) - t )) s"
fi
