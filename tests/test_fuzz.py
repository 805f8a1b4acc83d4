"""Property tests: any text or bytes either loads or raises a clean NetError, fast."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

import dsl
from dsl.errors import NetError
from dsl.parser import parse
from dsl.printer import format_expr
from net_strategies import PRELUDE, net_exprs

TOKENS = ["prep", "layer1", "layer2", "layer3", "res", "extra", "gmp", "gap", "fc", "conv", "conv_bn", "bn",
          "relu", "maxpool", "add", "concat", "identity", "linear", "a", "b", "net", "input", "train", "use",
          "->", "(", ")", "[", "]", "{", "}", ",", "=", "*", "^", "?", "|", "0", "1", "3", "64", "0.125",
          "-2", "1e9", "3x32x32", "0x0", '"x.net"', '"L1"', "true", "false", "auto", "uniform", "k=", "c=",
          "epochs", "lr", "#", "\n", " ", "\t", "é", "\\"]

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _load(text):
    try:
        return dsl.loads(text, filename="fuzz.net")
    except NetError as err:
        msg = str(err)
        assert msg.startswith("fuzz.net") and "Traceback" not in msg
        return None


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_random_token_sequences_load_or_fail_cleanly(text):
    _load(text)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_load_or_fail_cleanly(data):
    _load(data)


@FAST
@given(st.text(max_size=200))
def test_random_text_load_or_fail_cleanly(text):
    _load(text)


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs)
def test_well_formed_networks_print_and_reparse_to_the_same_text(body):
    text = f"input 3x16x16\n{PRELUDE}\nconv(4) -> {body} -> gap -> linear(2)"
    once = format_expr(parse(text).net)
    assert format_expr(parse(once).net) == once
    g = _load(text)
    if g is not None:
        assert g.output_shape == (2,)
        for v in dsl.loader.loads_program(text).variants():
            assert v.name
