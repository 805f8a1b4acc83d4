"""The torch side: a graph compiled into a `torch.nn.Module` (`compile`), the module classes torch
lacks (`modules`) and data-dependent initialisation (`calibrate`). Only this package, the trainer
and the exporters import torch."""
