"""Normalisation."""

from __future__ import annotations

from typing import Any

from dsl.core.ops import (
    WEIGHT_PARAMS,
    Builder,
    Op,
    P,
    ParamError,
    Params,
    Shape,
    ShapeError,
    ShapeRule,
    channels,
    describe,
    fmt_shape,
    need_map,
    register,
)

NORM_FILL = "#ffffb3"
_GENERIC_DEFAULTS = {p.name: p.default for p in WEIGHT_PARAMS}


def _map_or_flat(ins: list[Shape], op: str) -> Shape:
    (s,) = ins
    if len(s) not in (1, 3):
        hint = "; layernorm normalises each token's features" if len(s) == 2 else ""
        raise ShapeError(f"{op} needs a C×H×W map or flat features, got {describe(s)}{hint}")
    return s


def _no_weights_unless_affine(p: Params, names: tuple[str, ...] = ("frozen", "init", "init_std")) -> None:
    """With affine=false the op has no weights: refuse options that would silently do nothing."""
    if p["affine"]:
        return
    for name in names:
        if name in p and p[name] != _GENERIC_DEFAULTS.get(name, p[name]):
            raise ParamError(f"'{name}' has no effect with affine=false (there are no weights); drop one of them")


# ----------------------------------------------------------------------------- batch norm
def _bn_resolve(ins: list[Shape], p: Params) -> Params:
    if not p["affine"]:
        for name, default in (("weight", 1.0), ("bias", 0.0), ("frozen", False)):
            if p[name] != default:
                raise ParamError(
                    f"'{name}' sets the affine scale and shift, which affine=false removes; drop one of them"
                )
    return p


def _bn_out(ins: list[Shape], p: Params) -> Shape:
    return _map_or_flat(ins, "bn")


def _bn_build(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import batch_norm

    return batch_norm(ins[0][0], 2 if len(ins[0]) == 3 else 1, p)


def _affine_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    return (2 * channels(ins[0]) if p["affine"] else 0), 0


register(
    Op(
        "bn",
        (
            P(
                "weight",
                "float",
                1.0,
                min=-1e4,
                max=1e4,
                choices=("uniform",),
                doc="initial scale: a constant, or uniform for U[0,1] (PyTorch 0.4)",
            ),
            P("bias", "float", 0.0, min=-1e4, max=1e4, doc="initial shift"),
            P("eps", "float", 1e-5, min=1e-12, max=1.0, doc="added to the variance"),
            P("momentum", "float", 0.1, min=0, max=1),
            P("frozen", "bool", False, doc="true: the scale is not trained"),
            P("affine", "bool", True, doc="false: no learnable scale and shift", keyword=True),
        ),
        _bn_out,
        _bn_build,
        _affine_count,
        style={"fillcolor": NORM_FILL},
        role="norm",
        doc="batch normalisation",
        resolve=_bn_resolve,
    )
)


def _affine_resolve(ins: list[Shape], p: Params) -> Params:
    _no_weights_unless_affine(p)
    return p


_EPS = P("eps", "float", 1e-5, min=1e-12, max=1.0, doc="added to the variance")


def _affine_param(default: bool) -> P:
    doc = (
        "false: no learnable per-channel scale and shift"
        if default
        else "true: a learnable per-channel scale and shift"
    )
    return P("affine", "bool", default, doc=doc)


def _register_sample_norm(
    name: str,
    params: tuple[P, ...],
    out: ShapeRule,
    build: Builder,
    doc: str,
    affine: bool = True,
) -> None:
    """A norm over each sample (no running statistics): `params`, then eps and affine; weights only if affine."""
    register(
        Op(
            name,
            (*params, _EPS, _affine_param(affine)),
            out,
            build,
            _affine_count,
            style={"fillcolor": NORM_FILL},
            role="norm",
            doc=doc,
            resolve=_affine_resolve,
            weights=True,
        )
    )


# ----------------------------------------------------------------------------- layer norm
def _layernorm_out(ins: list[Shape], p: Params) -> Shape:
    return ins[0] if len(ins[0]) == 2 else _map_or_flat(ins, "layernorm")


def _layernorm_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    from dsl.nn.modules import LayerNorm2d

    cls = LayerNorm2d if len(ins[0]) == 3 else nn.LayerNorm
    return cls(channels(ins[0]), eps=p["eps"], elementwise_affine=p["affine"])


_register_sample_norm(
    "layernorm",
    (),
    _layernorm_out,
    _layernorm_build,
    "layer normalisation over the channels: of a map at each position (ConvNeXt's LayerNorm2d), "
    "of flat features and of each token's features as nn.LayerNorm",
)


# ----------------------------------------------------------------------------- group norm
def _groupnorm_out(ins: list[Shape], p: Params) -> Shape:
    s = _map_or_flat(ins, "groupnorm")
    if s[0] % p["groups"]:
        raise ShapeError(f"groupnorm groups={p['groups']} must divide the input's {s[0]} channels")
    return s


def _groupnorm_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.GroupNorm(p["groups"], ins[0][0], eps=p["eps"], affine=p["affine"])


_register_sample_norm(
    "groupnorm",
    (P("groups", "int", required=True, min=1, doc="channel groups normalised together (divides the channels)"),),
    _groupnorm_out,
    _groupnorm_build,
    "group normalisation: each sample's channels in groups, normalised per group (nn.GroupNorm)",
)


# ----------------------------------------------------------------------------- instance norm
def _instancenorm_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "instancenorm")
    if h * w == 1:
        raise ShapeError(
            f"instancenorm normalises each channel over its positions, and a {fmt_shape((c, h, w))} map has only one"
        )
    return (c, h, w)


def _instancenorm_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.InstanceNorm2d(ins[0][0], eps=p["eps"], affine=p["affine"])


_register_sample_norm(
    "instancenorm",
    (),
    _instancenorm_out,
    _instancenorm_build,
    "instance normalisation: each channel of each sample over its positions (nn.InstanceNorm2d, no running statistics)",
    affine=False,
)
