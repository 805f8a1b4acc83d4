"""Activations and regularisation (element-wise, shape-preserving; on maps and flat features)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsl.core.ops import Op, P, Params, Shape, register, same_shape

ACT_FILL = "#fb8072"


def _module(cls: str, **kwargs: Any) -> Callable[[list[Shape], Params], Any]:
    """A builder for `torch.nn.<cls>(**kwargs)` (torch imported only when it runs)."""

    def build(ins: list[Shape], p: Params) -> Any:
        from torch import nn

        return getattr(nn, cls)(**kwargs)

    return build


def _activation(name: str, build: Callable[[list[Shape], Params], Any], doc: str, params: tuple[P, ...] = ()) -> None:
    register(Op(name, params, same_shape, build, style={"fillcolor": ACT_FILL}, role="act", doc=doc))


def _gelu(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.GELU(approximate=p["approximate"])


def _leaky_relu(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.LeakyReLU(p["slope"])


def _elu(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.ELU(p["alpha"])


def _dropout(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Dropout(p["p"])


def _drop_path(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import DropPath

    return DropPath(p["p"])


_activation("relu", _module("ReLU"), "rectified linear unit")
_activation(
    "gelu",
    _gelu,
    "Gaussian error linear unit, exact or tanh-approximated (nn.GELU)",
    (
        P(
            "approximate",
            "str",
            "none",
            choices=("none", "tanh"),
            doc="none: x·Φ(x) exactly; tanh: the tanh approximation",
        ),
    ),
)
_activation("silu", _module("SiLU"), "x·sigmoid(x), also called swish (nn.SiLU)")
_activation("sigmoid", _module("Sigmoid"), "logistic sigmoid 1/(1+exp(-x))")
_activation("tanh", _module("Tanh"), "hyperbolic tangent")
_activation("relu6", _module("ReLU6"), "min(max(x, 0), 6)")
_activation(
    "leaky_relu",
    _leaky_relu,
    "x for x >= 0, slope·x below (nn.LeakyReLU)",
    (P("slope", "float", 0.01, min=-1e6, max=1e6, doc="the gradient below 0"),),
)
_activation("hardswish", _module("Hardswish"), "x·relu6(x+3)/6 (nn.Hardswish)")
_activation("hardsigmoid", _module("Hardsigmoid"), "relu6(x+3)/6 (nn.Hardsigmoid)")
_activation(
    "elu",
    _elu,
    "exponential linear unit: x for x > 0, alpha·(exp(x)-1) below (nn.ELU)",
    (P("alpha", "float", 1.0, min=-1e6, max=1e6),),
)


def _softmax(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Softmax(dim=-1 if len(ins[0]) == 2 else 1)


_activation("softmax", _softmax, "softmax over the channels (the features of flat input or of each token)")

register(
    Op(
        "dropout",
        (P("p", "float", 0.5, min=0, max=1),),
        same_shape,
        _dropout,
        style={"fillcolor": "#d9d9d9"},
        role="reg",
        doc="dropout with probability p",
    )
)
register(
    Op(
        "drop_path",
        (P("p", "float", required=True, min=0, max=1, doc="probability of dropping a sample's whole branch"),),
        same_shape,
        _drop_path,
        style={"fillcolor": "#d9d9d9"},
        role="reg",
        doc="stochastic depth: in training, zero each sample with probability p and scale the rest by 1/(1-p); "
        "identity in eval (torchvision StochasticDepth, mode row)",
    )
)
