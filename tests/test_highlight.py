"""Syntax highlighting: the Pygments lexer (dsl/fmt/highlight.py, registered through its entry point)
and the TextMate grammar of editors/vscode/, both on every file of nets/."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_strategies import PRELUDE, net_exprs
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from dsl.fmt.highlight import NetLexer, bare_words, op_names, prelude_names, setting_names

ROOT = Path(__file__).resolve().parents[1]
ALL_NETS = sorted((ROOT / "nets").rglob("*.net"))
VSCODE = ROOT / "editors" / "vscode"


def tokens(text: str) -> list[tuple[object, str]]:
    return list(NetLexer(ensurenl=False).get_tokens(text))


def kinds(text: str) -> dict[str, object]:
    """{token text: the type of its first occurrence}."""
    k: dict[str, object] = {}
    for t, v in tokens(text):
        k.setdefault(v, t)
    return k


def test_the_nets_are_found():
    assert len(ALL_NETS) >= 20 and any(p.parent.name == "zoo" for p in ALL_NETS)


@pytest.mark.parametrize("path", ALL_NETS + [ROOT / "dsl" / "front" / "prelude.net"], ids=lambda p: p.name)
def test_every_net_file_lexes_without_errors_and_round_trips(path):
    text = path.read_text(encoding="utf-8")
    toks = tokens(text)
    assert "".join(v for _, v in toks) == text
    errors = [v for t, v in toks if t in Error]
    assert errors == []
    # everything but whitespace and punctuation gets a meaningful type
    assert any(t in Name.Builtin for t, _ in toks)


def test_known_lines_of_the_nets():
    k = kinds((ROOT / "nets" / "residual_l1_l3.net").read_text(encoding="utf-8"))
    assert k['# Residual:L1+L3 ("ResNet-9"), the article\'s 94% network: 6,573,120 parameters.'] in Comment
    assert k["input"] in Keyword and k["3x32x32"] in Number
    assert k["prep"] in Name.Function.Magic and k["layer1"] in Name.Function.Magic  # prelude definitions
    assert k["gmp"] in Name.Builtin and k["res"] in Name.Function.Magic
    assert k["->"] in Operator and k["*"] in Operator and k["0.125"] in Number.Float
    assert k["train"] in Keyword and k["epochs"] in Name.Property and k["24"] in Number.Integer
    assert k["nesterov"] in Name.Property and k["true"] in Keyword.Constant and k["5e-4"] in Number.Float

    k = kinds((ROOT / "nets" / "zoo" / "resnet18.net").read_text(encoding="utf-8"))
    assert k["basic"] is Name.Function  # the first occurrence is its definition
    assert k["shortcut"] in Name.Variable and k["identity"] in Name.Builtin
    assert k["conv1"] in Name.Label and k["bias"] in Name.Attribute and k["false"] in Keyword.Constant
    assert k["classes"] in Name.Function  # `classes = 1000` defines it here


def test_token_kinds():
    text = (
        'use "lib.net"  # a comment ( [ "\n'
        "input 1x28x28\n"
        'blk(c=in_channels, k=(1, 7)) "Block" = conv(c, k, groups=depthwise) -> bn^2 -> relu? | gap\n'
        "w = 64 // 3 / 4 + 1.5e3 - .5\n"
        "conv1: blk(w) -> [2: layernorm(1e-6), prep] -> fc*0.125\n"
        "train { lr_curve = cosine, betas = (0.9, 0.999), mean = -1 }\n"
    )
    toks = tokens(text)
    assert "".join(v for _, v in toks) == text and not [v for t, v in toks if t in Error]
    k = kinds(text)
    assert k["use"] in Keyword.Namespace and k['"lib.net"'] is String.Double
    assert k['# a comment ( [ "'] is Comment.Single
    assert k["1x28x28"] is Number
    assert k["blk"] is Name.Function and k["c"] is Name.Variable and k["k"] is Name.Variable
    assert k["in_channels"] is Name.Builtin.Pseudo and k['"Block"'] is String.Doc
    assert k["conv"] is Name.Builtin and k["groups"] is Name.Attribute and k["depthwise"] is Name.Constant
    assert k["^"] is Operator and k["?"] is Operator and k["|"] is Operator and k["//"] is Operator
    assert k["w"] is Name.Function and k["1.5e3"] is Number.Float and k[".5"] is Number.Float
    assert k["conv1"] is Name.Label and k["2"] is Number.Integer  # `2:` is a given name below
    assert [t for t, v in toks if v == "2"] == [Number.Integer, Name.Label]
    assert k["layernorm"] is Name.Builtin and k["prep"] is Name.Function.Magic
    assert k["lr_curve"] is Name.Property and k["cosine"] is Name.Constant and k["0.999"] is Number.Float


def test_a_name_that_starts_like_an_op_is_not_an_op():
    k = kinds("convx = relu6 -> bnorm -> conv1x1\n")
    assert k["convx"] is Name.Function and k["relu6"] is Name.Builtin
    assert k["bnorm"] is Name and k["conv1x1"] is Name


def test_a_keyword_argument_in_a_call_broken_over_lines_is_not_a_definition():
    k = kinds("conv(8,\n  k=3) -> relu\n")
    assert k["k"] is Name.Attribute


def test_the_word_lists_come_from_the_registry_and_the_prelude():
    from dsl.core.ops import REGISTRY

    assert set(op_names()) == set(REGISTRY) - {"input"}
    assert {"conv_bn", "res", "layer1", "fc", "classes"} <= set(prelude_names())
    assert {"auto", "same", "depthwise", "uniform"} <= set(bare_words())
    assert not set(bare_words()) & set(op_names())
    assert {"epochs", "lr", "batch_size"} <= set(setting_names())


def test_the_lexer_is_found_by_name_and_filename():
    assert isinstance(get_lexer_by_name("netc"), NetLexer)
    assert isinstance(get_lexer_by_name("net"), NetLexer)
    assert isinstance(get_lexer_for_filename("model.net"), NetLexer)


def test_pygmentize_uses_the_entry_point():
    pygmentize = Path(sys.executable).parent / "pygmentize"
    if not pygmentize.exists():
        pytest.skip("pygmentize is not installed beside this Python")
    path = ROOT / "nets" / "residual_l1_l3.net"
    out = subprocess.run(
        [str(pygmentize), "-l", "netc", "-f", "html", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert '<span class="nb">gmp</span>' in out.stdout  # Name.Builtin
    assert '<span class="err">' not in out.stdout
    listed = subprocess.run([str(pygmentize), "-L", "lexers"], capture_output=True, text=True, timeout=60)
    assert "* netc, net:" in listed.stdout


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*'ab_01x9.eE+-*/^|?=:,()[]{}"# \t\r\n\x00é→', "conv", "train", "use"]), max_size=120).map(
        "".join
    )
)
def test_hostile_text_never_raises_and_round_trips(text):
    toks = list(NetLexer().get_tokens_unprocessed(text))
    assert "".join(v for _, _, v in toks) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs)
def test_well_formed_networks_have_no_error_tokens(expr):
    text = f"{PRELUDE}\ninput 3x32x32\n{expr}\n"
    assert not [v for t, v in tokens(text) if t in Error]


def test_deep_nesting_and_a_long_line_are_fine():
    text = "(" * 5000 + "relu" + ")" * 5000 + "\n" + "x(" + "a, " * 20000 + "\n"
    assert "".join(v for _, v in tokens(text)) == text


def _gen_grammar():
    spec = importlib.util.spec_from_file_location("gen_grammar", VSCODE / "gen_grammar.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_textmate_grammar_is_up_to_date():
    gen = _gen_grammar()
    committed = (VSCODE / "syntaxes" / "netc.tmLanguage.json").read_text(encoding="utf-8")
    assert committed == gen.render(), "run: .venv/bin/python editors/vscode/gen_grammar.py"
    for name in ("conv", "layernorm", "token_pool"):
        assert name in committed


def test_the_extension_manifest_names_its_files():
    import json

    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (lang,) = manifest["contributes"]["languages"]
    assert lang["id"] == "netc" and ".net" in lang["extensions"]
    assert (VSCODE / lang["configuration"]).is_file()
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["scopeName"] == "source.netc" and (VSCODE / grammar["path"]).is_file()
    assert (VSCODE / manifest["main"]).is_file()
    assert "netc.path" in manifest["contributes"]["configuration"]["properties"]
    json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))


NPM_READY = (VSCODE / "node_modules" / "vscode-tmgrammar-test").is_dir() and shutil.which("node") is not None


@pytest.mark.skipif(
    not NPM_READY,
    reason="the grammar tests need node and `npm ci` in editors/vscode (CI's .ci/setup runs it)",
)
def test_textmate_grammar_on_test_cases_and_every_net_file():
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run(["npm", "test", "--silent"], cwd=VSCODE, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"snap: {len(ALL_NETS)} files of nets/ match their snapshots" in out.stdout


@pytest.mark.skipif(not NPM_READY, reason="the grammar tests need node and `npm ci` in editors/vscode")
def test_the_grammar_test_tool_catches_a_wrong_assertion(tmp_path):
    case = tmp_path / "wrong.net"
    case.write_text('# SYNTAX TEST "source.netc"\nconv(8)\n# <---- comment.line.number-sign.netc\n', encoding="utf-8")
    tool = VSCODE / "node_modules" / "vscode-tmgrammar-test" / "dist" / "unit.js"
    out = subprocess.run(
        ["node", str(tool), "-g", "syntaxes/netc.tmLanguage.json", str(case)],
        cwd=VSCODE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "support.function.op.netc" in out.stdout + out.stderr
