"""nets/zoo/vit_b_16.net against torchvision's vit_b_16: the same parameters, keys that differ only by
the three documented rules, and equal outputs at 224×224 in eval and train mode (its dropout rates are 0).

torchvision's ViT refuses any other input size, so this test runs at 224×224 (about 2 s on 2 cores).
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from conftest import ROOT
from zoo_common import max_diff

import dsl

VIT = ROOT / "nets" / "zoo" / "vit_b_16.net"


def netc_key(key: str) -> str:
    """The netc state-dict key of a torchvision ViT key (the rules of the file's header and docs/zoo.md)."""
    key = re.sub(r"^encoder\.layers\.encoder_layer_(\d+)\.", r"encoder.layers.\1.", key)
    return key + ".weight" if key in ("class_token", "encoder.pos_embedding") else key


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ref = torchvision.models.vit_b_16()
    with torch.no_grad():  # torchvision starts the class token at 0 and the head at 0: make every term count
        for p in (ref.class_token, ref.heads.head.weight, ref.heads.head.bias):
            p.normal_(std=0.02)
    ours = dsl.build(dsl.load(VIT))
    return ours, ref


def test_parameters_and_keys(pair):
    ours, ref = pair
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 86_567_656
    assert dsl.load(VIT).params == 86_567_656
    theirs = {netc_key(k): v.shape for k, v in ref.state_dict().items()}
    assert theirs == {k: v.shape for k, v in ours.state_dict().items()}
    renamed = [k for k in ref.state_dict() if netc_key(k) != k]
    assert len(renamed) == 2 + 12 * 12  # class token, position embedding, 12 tensors in each of 12 blocks


def test_outputs_equal_torchvisions_in_eval_and_train_mode(pair):
    ours, ref = pair
    ours.load_state_dict({netc_key(k): v for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert max_diff(ours.eval()(x), ref.eval()(x)) <= 1e-4
        assert max_diff(ours.train()(x), ref.train()(x)) <= 1e-4
