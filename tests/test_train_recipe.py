"""The recipe matches the project's hand-written yardstick (shared/bench/ref_resnet9.py, copied verbatim
into tests/reference_resnet9.py so that this runs in a clean clone): its ResNet9 trained by its own loop
and the compiled nets/residual_l1_l3.net trained by netc's engine, from the same weights with the same
data order and augmentation draws, follow the same trajectory step for step (CPU, fp32): training loss
and logits of every step, test loss, logits and accuracy of every epoch, and the final weights and BN
statistics."""

from __future__ import annotations

import types

import numpy as np
import pytest
import reference_resnet9 as ref
import torch
from train_fixtures import REPO


class _Recorder:
    """Stands in for the `F` of a training loop: every cross_entropy call is recorded (training steps
    apart from test batches, told apart by whether the loss needs a gradient) with its logits, its
    number of correct predictions and its batch size."""

    def __init__(self):
        self.train: list[tuple[float, torch.Tensor, int, int]] = []
        self.test: list[tuple[float, torch.Tensor, int, int]] = []

    def namespace(self):
        real = torch.nn.functional

        def cross_entropy(logits, target, *a, **k):
            v = real.cross_entropy(logits, target, *a, **k)
            rec = (
                v.item(),
                logits.detach().float().clone(),
                int((logits.argmax(1) == target).sum()),
                int(target.shape[0]),
            )
            (self.train if v.requires_grad else self.test).append(rec)
            return v

        return types.SimpleNamespace(cross_entropy=cross_entropy)

    def test_per_epoch(self, epochs: int) -> list[dict]:
        """Test loss (mean) and accuracy per epoch from the recorded test batches."""
        per = len(self.test) // epochs
        assert per * epochs == len(self.test)
        out = []
        for e in range(epochs):
            batch = self.test[e * per : (e + 1) * per]
            n = sum(b[3] for b in batch)
            out.append(
                {
                    "test_loss": sum(b[0] for b in batch) / n,
                    "test_acc": sum(b[2] for b in batch) / n,
                    "correct": sum(b[2] for b in batch),
                }
            )
        return out


def test_compiled_residual_l1_l3_follows_the_reference_trajectory(monkeypatch):
    import dsl
    from dsl.data import Dataset
    from dsl.train import engine
    from dsl.train.engine import Trainer, prepare_data

    graph = dsl.load(REPO / "nets" / "residual_l1_l3.net")
    bs, epochs, seed = 16, 2, 0
    tx, ty, vx, vy = ref.fake_data(56, 32, seed=1)  # 56 images: 4 steps of 16, the last one partial (8)
    steps, n_test_batches = 4, 2
    cpu = torch.device("cpu")

    # the reference: its network, its data preparation, its loop (peak lr at epoch 1 of 2)
    args = types.SimpleNamespace(
        batch_size=bs,
        eval_batch_size=bs,
        drop_last=False,
        epochs=epochs,
        peak_epoch=1,
        lr=0.4,
        wd=5e-4,
        precision="fp32",
        cutout=8,
    )
    train = ref.to_device_nchw(tx, cpu)
    data = (
        torch.nn.functional.pad(train, (4, 4, 4, 4), mode="reflect"),
        torch.as_tensor(ty),
        ref.to_device_nchw(vx, cpu),
        torch.as_tensor(vy),
    )
    ref_model = ref.ResNet9().to(memory_format=torch.channels_last)
    theirs, ours = _Recorder(), _Recorder()
    monkeypatch.setattr(ref, "F", theirs.namespace())
    ref_last = ref.run_once(args, ref_model, ref_model, data, cpu, seed=seed, log=False)

    # netc: the compiled .net with the reference's initial weights (copied by order), netc's engine
    initial = {}

    def factory():
        with torch.random.fork_rng():
            twin = ref.ResNet9()
            net = dsl.build(graph)
        twin.reinit()  # draws exactly what run_once's reinit drew
        sd = twin.state_dict()
        keys = list(net.state_dict())
        assert [tuple(v.shape) for v in sd.values()] == [tuple(net.state_dict()[k].shape) for k in keys]
        net.load_state_dict(dict(zip(keys, sd.values())))
        initial.update({k: v.clone() for k, v in net.state_dict().items()})
        return net

    settings = dsl.load_job(REPO / "nets" / "residual_l1_l3.net").settings.with_overrides(
        epochs=epochs, batch_size=bs, eval_batch_size=bs, lr=[(0, 0.0), (1, 0.4), (epochs, 0.0)]
    )
    ds = Dataset(
        tx.transpose(0, 3, 1, 2).copy(), ty.astype(np.int64), vx.transpose(0, 3, 1, 2).copy(), vy.astype(np.int64)
    )
    monkeypatch.setattr(engine, "F", ours.namespace())
    trainer = Trainer("cpu", "fp32", channels_last=True)  # the reference uses channels_last on CPU too
    result = trainer.run(factory, prepare_data(ds, settings, cpu, "fp32"), settings, seed=seed)

    # every training step: the same loss, logits and correct predictions (on CPU in fp32 both runs are in
    # fact bitwise equal today; the tolerances only leave room for kernels that differ between the two nets)
    assert len(ours.train) == len(theirs.train) == epochs * steps
    assert [b[3] for b in ours.train] == [b[3] for b in theirs.train] == [16, 16, 16, 8] * epochs
    np.testing.assert_allclose([b[0] for b in ours.train], [b[0] for b in theirs.train], rtol=1e-4)
    for (_, a, _, _), (_, b, _, _) in zip(ours.train, theirs.train):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    assert [b[2] for b in ours.train] == [b[2] for b in theirs.train]

    # every epoch's test evaluation: the same loss, logits and accuracy (and netc's rows report them)
    assert len(ours.test) == len(theirs.test) == epochs * n_test_batches
    for (_, a, _, _), (_, b, _, _) in zip(ours.test, theirs.test):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    ref_epochs, our_epochs = theirs.test_per_epoch(epochs), ours.test_per_epoch(epochs)
    assert [e["correct"] for e in our_epochs] == [e["correct"] for e in ref_epochs]
    np.testing.assert_allclose([e["test_loss"] for e in our_epochs], [e["test_loss"] for e in ref_epochs], rtol=1e-4)
    assert len(result.rows) == epochs
    for row, mine, theirs_e in zip(result.rows, our_epochs, ref_epochs):
        assert row["test_acc"] == mine["test_acc"] == theirs_e["test_acc"]
        assert row["test_loss"] == pytest.approx(theirs_e["test_loss"], rel=1e-4)
    # the last epoch's summary agrees with run_once's result
    last = result.rows[-1]
    assert (last["epoch"], last["train_acc"], last["test_acc"]) == (
        ref_last["epoch"],
        ref_last["train_acc"],
        ref_last["test_acc"],
    )
    assert last["train_loss"] == pytest.approx(ref_last["train_loss"], rel=1e-4)
    assert last["test_loss"] == pytest.approx(ref_last["test_loss"], rel=1e-4)
    assert last["lr"] == pytest.approx(ref_last["lr"], abs=0)

    # and the weights and BN statistics after training agree: same optimiser, lr schedule and weight decay
    ref_sd, our_sd = ref_model.state_dict(), result.model.state_dict()
    assert len(ref_sd) == len(our_sd) == len(initial)
    for a, (k, b) in zip(ref_sd.values(), our_sd.items()):
        torch.testing.assert_close(b.float(), a.float(), rtol=1e-3, atol=1e-4, msg=lambda m, k=k: f"{k}: {m}")
    # (which would prove little if training had not moved them)
    moved = [k for k, v in our_sd.items() if v.is_floating_point() and not torch.equal(v, initial[k])]
    assert len(moved) == sum(v.is_floating_point() for v in our_sd.values())
