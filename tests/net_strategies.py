"""Hypothesis strategies for well-formed .net network expressions (shared by the property tests).

Expressions use the prelude's blocks and `blk`, which a test file must define (`blk = conv_bn`)."""

from __future__ import annotations

from hypothesis import strategies as st

ATOMS = [
    "relu",
    "bn",
    "conv_bn",
    "conv(8)",
    "res",
    "extra",
    "identity",
    "conv(c=4, k=1)",
    "maxpool",
    "dropout(0.1)",
    "add(identity, relu)",
]
PRELUDE = "blk = conv_bn"

net_exprs = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(" -> ".join),
        st.tuples(inner, st.integers(2, 3)).map(lambda t: f"({t[0]})^{t[1]}"),
        inner.map(lambda e: f"({e})*0.5"),
        inner.map(lambda e: f"({e})?"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} | {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"add({t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"concat({t[0]}, {t[1]})"),
        inner.map(lambda e: f"blk({e})"),
    ),
    max_leaves=8,
)
