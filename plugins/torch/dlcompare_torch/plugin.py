"""Registers the ``torch`` trainer. torch itself is imported only inside the trainer's methods."""

from __future__ import annotations

import dlcompare
from dlcompare import ARCHS, Run, Trainer
from dlcompare.kit import torch_runtime


class TorchTrainer(Trainer):
    """Raw PyTorch: the fastai recipe of the thesis, written out as a plain loop (the control)."""

    name = "torch"
    architectures = ARCHS
    params_schema = dlcompare.package_schema(__package__)

    def library_version(self) -> str:
        import torch

        return torch.__version__

    def gpu_count(self) -> int:
        return torch_runtime.gpu_count()

    def train(self, run: Run) -> None:
        from .train import train

        train(run)


@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(TorchTrainer())
