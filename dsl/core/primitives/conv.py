"""Convolutions and transposed convolutions.

`k`, `stride`, `padding` and `dilation` are `pair` parameters: a whole number (square) or
(height, width). Resolved values are canonical: a square pair is stored as one number, so
`k=(3, 3)` and `k=3` give the same graph and fingerprint.
"""

from __future__ import annotations

from typing import Any

from dsl.core.ops import (
    AUTO,
    Op,
    P,
    ParamError,
    Params,
    Shape,
    ShapeError,
    need_map,
    pair,
    register,
    show_value,
    spatial,
)

SAME = "same"  # padding that keeps the spatial size (stride 1 only), as torch's padding="same"
DEPTHWISE = "depthwise"  # groups = the input's channels
CONV_FILL = "#bebada"


def canon(v: int | tuple[int, int]) -> int | tuple[int, int]:
    """A pair value in canonical form: one number when both sides agree, else (height, width)."""
    h, w = pair(v)
    return h if h == w else (h, w)


def dims(v: int | tuple[int, int]) -> str:
    """`3×3`, `1×7`: a kernel or window size as text."""
    h, w = pair(v)
    return f"{h}×{w}"


# ----------------------------------------------------------------------------- conv
def _conv_resolve(ins: list[Shape], p: Params) -> Params:
    cin = need_map(ins, "conv")[0]
    k, stride, dilation = pair(p["k"]), pair(p["stride"]), pair(p["dilation"])
    padding = p["padding"]
    if padding == AUTO:
        if k[0] % 2 == 0 or k[1] % 2 == 0:
            raise ParamError(
                f"a {dims(k)} kernel has no centre, so padding=auto is ambiguous; write padding=0, "
                f"padding=same or an explicit padding"
            )
        padding = canon((dilation[0] * (k[0] // 2), dilation[1] * (k[1] // 2)))
    elif padding == SAME:
        if stride != (1, 1):
            raise ParamError(
                f"padding=same keeps the spatial size only with stride 1, got stride {show_value(p['stride'])}; "
                f"write an explicit padding (or padding=auto)"
            )
        total = (dilation[0] * (k[0] - 1), dilation[1] * (k[1] - 1))
        if total[0] % 2 == 0 and total[1] % 2 == 0:  # symmetric: the same module as explicit numbers
            padding = canon((total[0] // 2, total[1] // 2))
    else:
        padding = canon(padding)
    return {
        **p,
        "c": cin if p["c"] == AUTO else p["c"],
        "k": canon(k),
        "stride": canon(stride),
        "padding": padding,
        "dilation": canon(dilation),
        "groups": cin if p["groups"] == DEPTHWISE else p["groups"],
    }


def _check_groups(cin: int, cout: int, groups: int) -> None:
    if cin % groups or cout % groups:
        raise ShapeError(f"groups={groups} must divide both input channels ({cin}) and output channels ({cout})")


def _window_text(op: str, p: Params) -> str:
    """`a 3×3 conv (stride 2, padding 1, dilation 2)`."""
    extra = f", dilation {show_value(p['dilation'])}" if p["dilation"] != 1 else ""
    return f"a {dims(p['k'])} {op} (stride {show_value(p['stride'])}, padding {show_value(p['padding'])}{extra})"


def _conv_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "conv")
    _check_groups(c, p["c"], p["groups"])
    if p["padding"] == SAME:
        return (p["c"], h, w)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(p[n]) for n in ("k", "stride", "padding", "dilation"))
    oh, ow = spatial(h, kh, sh, ph, dh), spatial(w, kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"{_window_text('conv', p)} on a {h}×{w} map leaves {oh}×{ow}: the spatial size shrinks below 1"
        )
    return (p["c"], oh, ow)


def _conv_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    kh, kw = pair(p["k"])
    weights = out[0] * (ins[0][0] // p["groups"]) * kh * kw
    return weights + (out[0] if p["bias"] else 0), weights * out[1] * out[2]


def _conv_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Conv2d(
        ins[0][0],
        p["c"],
        pair(p["k"]),
        stride=pair(p["stride"]),
        padding=SAME if p["padding"] == SAME else pair(p["padding"]),
        dilation=pair(p["dilation"]),
        groups=p["groups"],
        bias=p["bias"],
    )


register(
    Op(
        "conv",
        (
            P("c", "int", AUTO, min=1, choices=(AUTO,), doc="output channels (auto: same as input)"),
            P("k", "pair", 3, min=1, max=64, doc="kernel size: k or (height, width)"),
            P("stride", "pair", 1, min=1, max=64),
            P(
                "padding",
                "pair",
                AUTO,
                min=0,
                max=64,
                choices=(AUTO, SAME),
                doc="auto: dilation·(k//2) per side (odd k only); same: keeps the size for any k (stride 1), "
                "the extra row/column of an even span at the bottom/right, as torch",
            ),
            P("bias", "bool", True),
            P("groups", "int", 1, min=1, choices=(DEPTHWISE,), doc="depthwise: one group per input channel"),
            P("dilation", "pair", 1, min=1, max=64, doc="spacing of the kernel taps", keyword=True),
        ),
        _conv_out,
        _conv_build,
        _conv_count,
        style={"fillcolor": CONV_FILL},
        role="conv",
        doc="2-D convolution (nn.Conv2d)",
        resolve=_conv_resolve,
        weights=True,
    )
)


# ----------------------------------------------------------------------------- transposed conv
def _tconv_resolve(ins: list[Shape], p: Params) -> Params:
    cin = need_map(ins, "conv_transpose")[0]
    stride, dilation, out_pad = pair(p["stride"]), pair(p["dilation"]), pair(p["output_padding"])
    for axis, (op_, s, d) in enumerate(zip(out_pad, stride, dilation)):
        if op_ >= max(s, d):
            side = ("height", "width")[axis]
            raise ParamError(
                f"output_padding {show_value(p['output_padding'])} must be smaller than the stride or the "
                f"dilation along the {side} ({s} and {d})"
            )
    return {
        **p,
        "c": cin if p["c"] == AUTO else p["c"],
        **{n: canon(p[n]) for n in ("k", "stride", "padding", "output_padding", "dilation")},
    }


def _tconv_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "conv_transpose")
    _check_groups(c, p["c"], p["groups"])
    k, s, pad, op_, d = (pair(p[n]) for n in ("k", "stride", "padding", "output_padding", "dilation"))
    oh, ow = ((size - 1) * s[i] - 2 * pad[i] + d[i] * (k[i] - 1) + op_[i] + 1 for i, size in enumerate((h, w)))
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"{_window_text('conv_transpose', p)} on a {h}×{w} map leaves {oh}×{ow}: the padding removes "
            f"more than the transposed convolution makes"
        )
    return (p["c"], oh, ow)


def _tconv_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    # torch.utils.flop_counter counts a transposed conv per *input* pixel: in * out/groups * k·k each
    cin, h, w = ins[0]
    kh, kw = pair(p["k"])
    weights = cin * (out[0] // p["groups"]) * kh * kw
    return weights + (out[0] if p["bias"] else 0), weights * h * w


def _tconv_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.ConvTranspose2d(
        ins[0][0],
        p["c"],
        pair(p["k"]),
        stride=pair(p["stride"]),
        padding=pair(p["padding"]),
        output_padding=pair(p["output_padding"]),
        groups=p["groups"],
        bias=p["bias"],
        dilation=pair(p["dilation"]),
    )


register(
    Op(
        "conv_transpose",
        (
            P("c", "int", AUTO, min=1, choices=(AUTO,), doc="output channels (auto: same as input)"),
            P("k", "pair", 3, min=1, max=64, doc="kernel size: k or (height, width)"),
            P("stride", "pair", 1, min=1, max=64),
            P("padding", "pair", 0, min=0, max=64, doc="removed from each side of the output"),
            P(
                "output_padding",
                "pair",
                0,
                min=0,
                max=63,
                doc="added to the bottom/right of the output (smaller than stride or dilation)",
            ),
            P("bias", "bool", True),
            P("groups", "int", 1, min=1),
            P("dilation", "pair", 1, min=1, max=64, doc="spacing of the kernel taps", keyword=True),
        ),
        _tconv_out,
        _tconv_build,
        _tconv_count,
        style={"fillcolor": CONV_FILL},
        role="conv",
        doc="2-D transposed convolution (nn.ConvTranspose2d): (H-1)·stride - 2·padding + dilation·(k-1) + "
        "output_padding + 1",
        resolve=_tconv_resolve,
        weights=True,
    )
)


# ----------------------------------------------------------------------------- whitening (data-dependent init)
def _whiten_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "whiten")
    k = p["k"]
    if h < k or w < k:
        raise ShapeError(f"a {k}×{k} whitening window does not fit a {h}×{w} map")
    return (2 * c * k * k, h - k + 1, w - k + 1)


def _whiten(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Whiten

    return Whiten(ins[0][0], p["k"], p["eps"], p["bias_epochs"])


def _whiten_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    weights = out[0] * ins[0][0] * p["k"] ** 2
    return weights + out[0], weights * out[1] * out[2]


register(
    Op(
        "whiten",
        (
            P("k", "int", 2, min=1, max=8, doc="patch size: k×k windows, no padding"),
            P("eps", "float", 5e-4, min=0, max=1e6, doc="added to each eigenvalue before its square root"),
            P("bias_epochs", "int", 3, min=0, max=1_000_000, doc="epochs in which the bias trains (then frozen)"),
        ),
        _whiten_out,
        _whiten,
        _whiten_count,
        style={"fillcolor": CONV_FILL},
        role="conv",
        doc="a k×k convolution to 2·C·k² channels whose weights whiten the input's patches, computed from "
        "training images before the first step (airbench's first layer; never trained) and their negatives",
    )
)
