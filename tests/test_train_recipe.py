"""The recipe matches shared/bench/ref_resnet9.py: its hand-written ResNet9 trained by its own loop and
the compiled nets/residual_l1_l3.net trained by netc's engine, from the same weights with the same data
order and augmentation draws, follow the same per-step loss trajectory (CPU, fp32)."""
from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest
import torch

from train_fixtures import REF_SCRIPT, REPO

pytestmark = pytest.mark.skipif(not REF_SCRIPT.exists(), reason="../shared/bench/ref_resnet9.py not present")


def _ref():
    spec = importlib.util.spec_from_file_location("ref_resnet9", REF_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _recording_F(store):
    real = torch.nn.functional

    def cross_entropy(*a, **k):
        v = real.cross_entropy(*a, **k)
        if v.requires_grad:  # training steps only
            store.append(v.item())
        return v

    return types.SimpleNamespace(cross_entropy=cross_entropy)


def test_compiled_residual_l1_l3_follows_the_reference_loss_trajectory(monkeypatch):
    import dsl
    import dsl.train.engine as engine
    from dsl.data import Dataset
    from dsl.train.engine import Trainer, prepare_data

    ref = _ref()
    graph = dsl.load(REPO / "nets" / "residual_l1_l3.net")
    bs, epochs, seed = 16, 2, 0
    tx, ty, vx, vy = ref.fake_data(56, 32, seed=1)        # 56 images: 4 steps of 16, the last one partial (8)
    cpu = torch.device("cpu")

    # the reference: its network, its data preparation, its loop (peak lr at epoch 1 of 2)
    args = types.SimpleNamespace(batch_size=bs, eval_batch_size=bs, drop_last=False, epochs=epochs, peak_epoch=1,
                                 lr=0.4, wd=5e-4, precision="fp32", cutout=8)
    train = ref.to_device_nchw(tx, cpu)
    data = (torch.nn.functional.pad(train, (4, 4, 4, 4), mode="reflect"), torch.as_tensor(ty),
            ref.to_device_nchw(vx, cpu), torch.as_tensor(vy))
    ref_model = ref.ResNet9().to(memory_format=torch.channels_last)
    ref_losses, ours = [], []
    monkeypatch.setattr(ref, "F", _recording_F(ref_losses))
    monkeypatch.setattr(ref, "print", lambda *a, **k: None, raising=False)
    ref.run_once(args, ref_model, ref_model, data, cpu, seed=seed, log=False)

    # netc: the compiled .net with the reference's initial weights (copied by order), netc's engine
    def factory():
        with torch.random.fork_rng():
            twin = ref.ResNet9()
            net = dsl.build(graph)
        twin.reinit()                                     # draws exactly what run_once's reinit drew
        sd = twin.state_dict()
        keys = list(net.state_dict())
        assert [tuple(v.shape) for v in sd.values()] == [tuple(net.state_dict()[k].shape) for k in keys]
        net.load_state_dict(dict(zip(keys, sd.values())))
        return net

    settings = dict(graph.settings, epochs=epochs, batch_size=bs, eval_batch_size=bs,
                    lr=[(0, 0.0), (1, 0.4), (epochs, 0.0)])
    ds = Dataset(tx.transpose(0, 3, 1, 2).copy(), ty.astype(np.int64), vx.transpose(0, 3, 1, 2).copy(),
                 vy.astype(np.int64))
    monkeypatch.setattr(engine, "F", _recording_F(ours))
    trainer = Trainer("cpu", "fp32", channels_last=True)     # the reference uses channels_last on CPU too
    result = trainer.run(factory, prepare_data(ds, settings, cpu, "fp32"), settings, seed=seed)

    assert len(ours) == len(ref_losses) == 2 * 4
    np.testing.assert_allclose(ours, ref_losses, rtol=1e-4)
    # and the weights after training agree: same optimiser, lr schedule and weight decay
    ref_sd = list(ref_model.state_dict().values())
    for a, b in zip(ref_sd, result.model.state_dict().values()):
        torch.testing.assert_close(b.float(), a.float(), rtol=1e-3, atol=1e-4)
