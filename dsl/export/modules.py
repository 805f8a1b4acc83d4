"""How each torch module a netc op compiles to is written as Python source.

The py exporter reads the module `dsl.build` made for each op (so the source is what actually
runs, not a second reading of the op's parameters) and asks this table, keyed by the module's
class, for either a constructor call (`Ctor`: the module is kept, under the op's name) or an
expression written straight into `forward` (`Inline`: stateless ops such as add or scale).

A plugin whose builder returns a class of its own adds a renderer with `register_renderer`;
without one, the exporter refuses that op by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dsl.core.graph import Node
from dsl.errors import ExportError
from dsl.nn import modules as tm

NO_DEFAULT = object()  # a keyword argument always written


@dataclass(frozen=True)
class Ctor:
    """`callee(*args, name=value, ...)`. Each keyword has the callee's default, and is left out of
    the source when every instance has that default. `helper`: a class of dsl/nn/modules.py the
    exported file defines."""

    callee: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any, Any], ...] = ()  # (name, value, default or NO_DEFAULT)
    helper: str | None = None
    arg_names: tuple[str, ...] = ()  # what the positional arguments are (to name constructor parameters)


@dataclass(frozen=True)
class Inline:
    """An expression in `forward`: `{0}`, `{1}`, ... are the inputs, `{v0}`, `{v1}`, ... the values."""

    template: str
    values: tuple[Any, ...] = ()


Rendered = Ctor | Inline
Renderer = Callable[[Any, Node], Rendered]


def _square(v: Any) -> Any:
    """(3, 3) -> 3, as a person writes a square kernel."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return v[0]
    return v


def _conv(m: nn.Conv2d, node: Node) -> Ctor:
    return Ctor(
        "nn.Conv2d",
        (m.in_channels, m.out_channels, _square(m.kernel_size)),
        arg_names=("in_channels", "out_channels", "kernel_size"),
        kwargs=(
            ("stride", _square(m.stride), 1),
            ("padding", m.padding if isinstance(m.padding, str) else _square(m.padding), 0),
            ("dilation", _square(m.dilation), 1),
            ("groups", m.groups, 1),
            ("bias", m.bias is not None, True),
        ),
    )


def _conv_transpose(m: nn.ConvTranspose2d, node: Node) -> Ctor:
    return Ctor(
        "nn.ConvTranspose2d",
        (m.in_channels, m.out_channels, _square(m.kernel_size)),
        arg_names=("in_channels", "out_channels", "kernel_size"),
        kwargs=(
            ("stride", _square(m.stride), 1),
            ("padding", _square(m.padding), 0),
            ("output_padding", _square(m.output_padding), 0),
            ("groups", m.groups, 1),
            ("bias", m.bias is not None, True),
            ("dilation", _square(m.dilation), 1),
        ),
    )


def _patchify(m: tm.Patchify, node: Node) -> Ctor:
    return Ctor("Patchify", (m.in_channels, m.out_channels, m.kernel_size[0], m.bias is not None), helper="Patchify")


def _linear(m: nn.Linear, node: Node) -> Ctor:
    return Ctor(
        "nn.Linear",
        (m.in_features, m.out_features),
        (("bias", m.bias is not None, True),),
        arg_names=("in_features", "out_features"),
    )


def _batch_norm(m: nn.modules.batchnorm._BatchNorm, node: Node) -> Ctor:
    return Ctor(
        f"nn.{type(m).__name__}",
        (m.num_features,),
        (("eps", m.eps, 1e-5), ("momentum", m.momentum, 0.1), ("affine", m.affine, True)),
    )


def _layer_norm(m: nn.LayerNorm, node: Node) -> Ctor:
    shape = m.normalized_shape
    name = type(m).__name__
    return Ctor(
        name if isinstance(m, tm.LayerNorm2d) else "nn.LayerNorm",
        (shape[0] if len(shape) == 1 else tuple(shape),),
        (
            ("eps", m.eps, 1e-5),
            ("elementwise_affine", m.elementwise_affine, True),
            ("bias", m.bias is not None or not m.elementwise_affine, True),
        ),
        helper=name if isinstance(m, tm.LayerNorm2d) else None,
    )


def _group_norm(m: nn.GroupNorm, node: Node) -> Ctor:
    return Ctor("nn.GroupNorm", (m.num_groups, m.num_channels), (("eps", m.eps, 1e-5), ("affine", m.affine, True)))


def _instance_norm(m: nn.InstanceNorm2d, node: Node) -> Ctor:
    return Ctor("nn.InstanceNorm2d", (m.num_features,), (("eps", m.eps, 1e-5), ("affine", m.affine, False)))


def _plain(name: str) -> Renderer:
    """A module constructed without arguments (nn.ReLU(), nn.Identity(), ...)."""
    return lambda m, node: Ctor(f"nn.{name}")


def _pool(m: nn.MaxPool2d | nn.AvgPool2d, node: Node) -> Ctor:
    k = _square(m.kernel_size)
    kwargs: list[tuple[str, Any, Any]] = [("stride", _square(m.stride), k), ("padding", _square(m.padding), 0)]
    if isinstance(m, nn.MaxPool2d):
        kwargs.append(("dilation", _square(m.dilation), 1))
    kwargs.append(("ceil_mode", m.ceil_mode, False))
    if isinstance(m, nn.AvgPool2d):
        kwargs.append(("count_include_pad", m.count_include_pad, True))
    return Ctor(f"nn.{type(m).__name__}", (k,), tuple(kwargs))


def _adaptive(m: nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d, node: Node) -> Ctor:
    return Ctor(f"nn.{type(m).__name__}", (_square(m.output_size),))


def _upsample(m: nn.Upsample, node: Node) -> Ctor:
    return Ctor(
        "nn.Upsample",
        (),
        (
            ("scale_factor", m.scale_factor, NO_DEFAULT),
            ("mode", m.mode, "nearest"),
            ("align_corners", m.align_corners, None),
        ),
    )


def _sum(m: tm.Add, node: Node) -> Inline:
    return Inline(" + ".join(f"{{{i}}}" for i in range(len(node.inputs))))


def _product(m: tm.Mul, node: Node) -> Inline:
    terms = [f"{{{i}}}[:, :, None, None]" if lift else f"{{{i}}}" for i, lift in enumerate(m.lifted)]
    return Inline(" * ".join(terms))


def _concat(m: tm.Concat, node: Node) -> Inline:
    return Inline("torch.cat([" + ", ".join(f"{{{i}}}" for i in range(len(node.inputs))) + "], dim=1)")


def _token_pool(m: tm.TokenPool, node: Node) -> Inline:
    return Inline("{0}[:, 0]" if m.mode == "class" else "{0}.mean(dim=1)")


def _tokens_to_map(m: tm.TokensToMap, node: Node) -> Inline:
    return Inline("{0}.transpose(1, 2).reshape({0}.shape[0], {v0}, {v1}, {v2})", (node.shape[0], m.h, m.w))


RENDERERS: dict[type, Renderer] = {
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv_transpose,
    tm.Patchify: _patchify,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    tm.LayerNorm2d: _layer_norm,
    nn.GroupNorm: _group_norm,
    nn.InstanceNorm2d: _instance_norm,
    nn.GELU: lambda m, node: Ctor("nn.GELU", (), (("approximate", m.approximate, "none"),)),
    nn.LeakyReLU: lambda m, node: Ctor("nn.LeakyReLU", (m.negative_slope,)),
    nn.ELU: lambda m, node: Ctor("nn.ELU", (), (("alpha", m.alpha, 1.0),)),
    nn.Softmax: lambda m, node: Ctor("nn.Softmax", (), (("dim", m.dim, NO_DEFAULT),)),
    nn.Dropout: lambda m, node: Ctor("nn.Dropout", (m.p,)),
    nn.Flatten: lambda m, node: Ctor("nn.Flatten"),
    nn.MaxPool2d: _pool,
    nn.AvgPool2d: _pool,
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.AdaptiveMaxPool2d: _adaptive,
    nn.Upsample: _upsample,
    tm.DropPath: lambda m, node: Ctor("DropPath", (m.p,), helper="DropPath"),
    tm.LayerScale: lambda m, node: Ctor(
        "LayerScale", (m.weight.shape[0], m.weight.dim() == 3, node.params["init"]), helper="LayerScale"
    ),
    tm.Whiten: lambda m, node: Ctor("Whiten", (m.in_channels, m.kernel_size[0], m.eps, m.bias_epochs), helper="Whiten"),
    tm.ClassToken: lambda m, node: Ctor("ClassToken", (m.weight.shape[2],), helper="ClassToken"),
    tm.PositionEmbedding: lambda m, node: Ctor(
        "PositionEmbedding", (m.weight.shape[1], m.weight.shape[2]), helper="PositionEmbedding"
    ),
    tm.SelfAttention: lambda m, node: Ctor(
        "SelfAttention",
        (m.embed_dim, m.num_heads, m.dropout, m.in_proj_bias is not None, *((True,) if m.causal else ())),
        helper="SelfAttention",
    ),
    tm.Add: _sum,
    tm.Mul: _product,
    tm.Concat: _concat,
    tm.ChannelChunk: lambda m, node: Inline("{0}.chunk({v0}, dim=1)[{v1}]", (m.n, m.i)),
    tm.ChannelShuffle: lambda m, node: Inline(
        "{0}.unflatten(1, ({v0}, -1)).transpose(1, 2).flatten(1, 2)", (m.groups,)
    ),
    tm.Scale: lambda m, node: Inline("{0} * {v0}", (m.weight,)),
    tm.GlobalMaxPool: lambda m, node: Inline("torch.amax({0}, dim=(2, 3))"),
    tm.GlobalAvgPool: lambda m, node: Inline("torch.mean({0}, dim=(2, 3))"),
    tm.MapToTokens: lambda m, node: Inline("{0}.flatten(2).transpose(1, 2)"),
    tm.TokenPool: _token_pool,
    tm.TokensToMap: _tokens_to_map,
}
for _name in ("ReLU", "SiLU", "Sigmoid", "Tanh", "ReLU6", "Hardswish", "Hardsigmoid", "Identity"):
    RENDERERS[getattr(nn, _name)] = _plain(_name)


def register_renderer(cls: type, renderer: Renderer) -> None:
    """Teach the py exporter to write modules of class `cls` (a plugin's own module class)."""
    RENDERERS[cls] = renderer


def render(module: torch.nn.Module, node: Node) -> Rendered:
    """The source form of the module compiled for `node`; ExportError names the op when unknown."""
    renderer = RENDERERS.get(type(module))
    if renderer is None:
        raise ExportError(
            f"op {node.op} (at {node.name}) compiles to {type(module).__module__}.{type(module).__qualname__}, "
            "which the py exporter cannot write as source",
            hint="register a renderer with dsl.export.modules.register_renderer, or export to onnx or pt2",
        )
    return renderer(module, node)
