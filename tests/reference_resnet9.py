# ruff: noqa
"""A verbatim copy of parts of shared/bench/ref_resnet9.py, the project's hand-written yardstick.

shared/bench/ref_resnet9.py (in the project's shared folder beside the repository, not part of it) is a
plain PyTorch re-implementation of the article's Residual:L1+L3 network ("ResNet-9") and its 24-epoch
recipe, written independently of netc. tests/test_train_recipe.py trains it with its own loop and
checks that the compiled nets/residual_l1_l3.net trained by netc's engine follows it step for step.
That test must run in a clean clone (CI has no shared folder), so the parts it uses live here:

    MEAN, STD, ConvBN, Residual, ResNet9 (with reinit), fake_data, to_device_nchw,
    augment_epoch, piecewise_linear, run_once

They are copied VERBATIM (character for character; only the command-line parts -- load_npz,
warmup, main -- and the imports they alone need are left out) so that the comparison stays
honest: do not edit, reformat or "fix" them here. If the original changes, copy the changed
definitions again. Copied from the file with sha256
31f03b4b99b00bb2328e9d7fe471750be8378b847854bc7cd6a40999d0f5f05a.

To re-check the copy against the original (it needs the shared folder, so it is a script, not a test):

    .venv/bin/python bench/check_reference_copy.py

which checks that each name in COPIED has exactly the original's source text and that every
import below is one of the original's. (`# ruff: noqa` and `# fmt: off` keep linters and formatters
off the copy.)
"""

import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

COPIED = ("MEAN", "STD", "ConvBN", "Residual", "ResNet9", "fake_data", "to_device_nchw", "augment_epoch",
          "piecewise_linear", "run_once")

# ============================================================================= verbatim from here on
# fmt: off
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2471, 0.2435, 0.2616)


# ----------------------------------------------------------------------------- network
class ConvBN(nn.Sequential):
    """3x3 conv (no bias) -> BatchNorm -> ReLU, BN weight initialised to 1."""

    def __init__(self, c_in, c_out):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1),
            nn.ReLU(inplace=True),
        )


class Residual(nn.Module):
    """Identity shortcut around two ConvBN units; no activation after the add."""

    def __init__(self, c):
        super().__init__()
        self.res1 = ConvBN(c, c)
        self.res2 = ConvBN(c, c)

    def forward(self, x):
        return x + self.res2(self.res1(x))


class ResNet9(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512), res_layers=(1, 3), scale=0.125, num_classes=10):
        super().__init__()
        c0, c1, c2, c3 = widths
        self.prep = ConvBN(3, c0)
        layers = []
        for i, (ci, co) in enumerate(((c0, c1), (c1, c2), (c2, c3)), start=1):
            blk = [ConvBN(ci, co), nn.MaxPool2d(2)]
            if i in res_layers:
                blk.append(Residual(co))
            layers.append(nn.Sequential(*blk))
        self.layer1, self.layer2, self.layer3 = layers
        self.pool = nn.MaxPool2d(4)  # 4x4 map -> 1x1: global max pool
        self.linear = nn.Linear(c3, num_classes, bias=False)
        self.scale = scale

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        x = self.pool(x).flatten(1)
        return self.linear(x) * self.scale

    @torch.no_grad()
    def reinit(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same as PyTorch 0.4
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()  # also resets running stats
                m.weight.fill_(1.0)
                m.bias.zero_()


# ----------------------------------------------------------------------------- data
def fake_data(n_train, n_test, seed=0):
    g = np.random.default_rng(seed)
    return (g.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, n_train),
            g.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, n_test))


def to_device_nchw(x, device):
    """uint8 NHWC (or NCHW) numpy -> normalised float32 NCHW tensor on device."""
    x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    if x.shape[-1] == 3 and x.shape[1] != 3:
        x = x.permute(0, 3, 1, 2)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
    return ((x.float() - mean) / std).contiguous()


def augment_epoch(padded, crop=32, flip=True, cutout=8):
    """Whole-dataset GPU augmentation. padded: (N,C,H+2p,W+2p) reflect-padded, normalised.
    Random crop (offset uniform in 0..2p per axis), flip with p=0.5, cutout square of side
    `cutout` with top-left uniform in 0..crop-cutout (always applied, zero-filled)."""
    n, c, hp, wp = padded.shape
    dev = padded.device
    oy = torch.randint(0, hp - crop + 1, (n,), device=dev)
    ox = torch.randint(0, wp - crop + 1, (n,), device=dev)
    ar = torch.arange(crop, device=dev)
    rows = (oy[:, None] + ar)[:, None, :, None]  # (N,1,crop,1)
    cols = (ox[:, None] + ar)[:, None, None, :]  # (N,1,1,crop)
    if flip:
        fl = torch.rand(n, device=dev) < 0.5
        cols = torch.where(fl[:, None, None, None], cols.flip(-1), cols)
    nidx = torch.arange(n, device=dev)[:, None, None, None]
    cidx = torch.arange(c, device=dev)[None, :, None, None]
    out = padded[nidx, cidx, rows, cols]  # (N,C,crop,crop) gather: crop + flip in one pass
    if cutout and cutout > 0:
        cy = torch.randint(0, crop - cutout + 1, (n,), device=dev)
        cx = torch.randint(0, crop - cutout + 1, (n,), device=dev)
        my = (ar[None, :] >= cy[:, None]) & (ar[None, :] < cy[:, None] + cutout)
        mx = (ar[None, :] >= cx[:, None]) & (ar[None, :] < cx[:, None] + cutout)
        out = out.masked_fill((my[:, :, None] & mx[:, None, :])[:, None], 0.0)
    return out


def piecewise_linear(t, knots, vals):
    return float(np.interp(t, knots, vals))


# ----------------------------------------------------------------------------- train
def run_once(args, model, fwd, data, device, seed, log=True):
    train_pad, train_y, test_x, test_y = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    model.reinit()
    bs = args.batch_size
    n = train_pad.shape[0]
    steps = n // bs if args.drop_last else math.ceil(n / bs)
    peak = args.peak_epoch if args.peak_epoch is not None else (5 if args.epochs == 24 else max(1, round(args.epochs * 5 / 24)))
    knots, vals = [0, peak, args.epochs], [0.0, args.lr, 0.0]
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, nesterov=True,
                          weight_decay=args.wd * bs)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    in_dtype = torch.float16 if args.precision == "half" else torch.float32

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if log:
        print(f"{'epoch':>5} {'lr':>7} {'train_loss':>10} {'train_acc':>9} {'test_loss':>9} {'test_acc':>8} {'epoch_s':>7} {'total_s':>8}")
    sync()
    t0 = time.perf_counter()
    total = 0.0
    for epoch in range(args.epochs):
        te = time.perf_counter()
        model.train()
        xs = augment_epoch(train_pad, cutout=args.cutout)
        perm = torch.randperm(n, device=device)
        xs = xs[perm].to(dtype=in_dtype).contiguous(memory_format=torch.channels_last)
        ys = train_y[perm]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for i in range(steps):
            xb, yb = xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]
            with autocast():
                out = fwd(xb)
            loss = F.cross_entropy(out.float(), yb, reduction="sum")
            loss.backward()
            for g in opt.param_groups:  # lr set after backward, before step, as in the original
                g["lr"] = piecewise_linear(epoch + i / steps, knots, vals) / bs
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.detach()
            correct += (out.detach().argmax(1) == yb).sum()
            seen += yb.shape[0]
        # evaluation (included in the timing, as in the blog)
        model.eval()
        tl = torch.zeros((), device=device)
        tc = torch.zeros((), device=device, dtype=torch.long)
        with torch.no_grad():
            for j in range(0, test_x.shape[0], args.eval_batch_size):
                xb = test_x[j:j + args.eval_batch_size]
                yb = test_y[j:j + args.eval_batch_size]
                with autocast():
                    out = fwd(xb)
                tl += F.cross_entropy(out.float(), yb, reduction="sum")
                tc += (out.argmax(1) == yb).sum()
        stats = torch.stack([loss_sum, correct.float(), tl, tc.float()]).tolist()  # one sync per epoch
        now = time.perf_counter()
        total = now - t0
        nt = test_x.shape[0]
        res = dict(epoch=epoch + 1, lr=piecewise_linear(epoch + 1, knots, vals),
                   train_loss=stats[0] / seen, train_acc=stats[1] / seen,
                   test_loss=stats[2] / nt, test_acc=stats[3] / nt, epoch_s=now - te, total_s=total)
        if log:
            print(f"{res['epoch']:>5d} {res['lr']:>7.4f} {res['train_loss']:>10.4f} {res['train_acc']:>9.4f} "
                  f"{res['test_loss']:>9.4f} {res['test_acc']:>8.4f} {res['epoch_s']:>7.2f} {res['total_s']:>8.2f}",
                  flush=True)
    return res
