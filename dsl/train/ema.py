"""airbench's lookahead: an exponential moving average of the weights, copied back into the model."""

from __future__ import annotations

import torch


class Ema:
    """An exponential moving average of every floating-point entry of the model's state dict
    (weights and BN statistics), copied back into the model at each update."""

    def __init__(self, model: torch.nn.Module):
        sd = model.state_dict()
        self.keys = [k for k, v in sd.items() if v.is_floating_point()]
        self.values = [sd[k].detach().clone() for k in self.keys]

    @classmethod
    def restore(cls, model: torch.nn.Module, saved: dict[str, torch.Tensor]) -> Ema:
        """An EMA holding `saved` (a checkpoint's), laid out as the model's tensors."""
        ema = cls(model)
        with torch.no_grad():
            for k, v in zip(ema.keys, ema.values):
                v.copy_(saved[k])
        return ema

    def _net(self, model: torch.nn.Module) -> list[torch.Tensor]:
        sd = model.state_dict()
        return [sd[k] for k in self.keys]

    @torch.no_grad()
    def update(self, model: torch.nn.Module, decay: float) -> None:
        """ema += (1 - decay) * (net - ema); then net := ema."""
        net = self._net(model)
        torch._foreach_lerp_(self.values, net, 1.0 - decay)
        torch._foreach_copy_(net, self.values)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """net := ema (an update with decay 1)."""
        torch._foreach_copy_(self._net(model), self.values)

    def state(self) -> dict[str, torch.Tensor]:
        """The averaged tensors by state-dict key."""
        return dict(zip(self.keys, self.values))
