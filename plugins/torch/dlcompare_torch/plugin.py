"""Registers the ``torch`` trainer. torch itself is imported only inside the trainer's methods."""

from __future__ import annotations

import dlcompare
from dlcompare.kit import torch_runtime
from dlcompare.host.contract import Run, Trainer
from dlcompare.glossary import ARCHS


class TorchTrainer(Trainer):
    """Raw PyTorch: the fastai recipe of the thesis, written out as a plain loop (the control)."""

    name = "torch"
    architectures = ARCHS
    params_schema = None   # its section, ``torch:``, is part of the core parameter schema

    def library_version(self) -> str:
        import torch

        return torch.__version__

    def gpu_count(self) -> int:
        return torch_runtime.gpu_count()

    def train(self, run: Run) -> None:
        from .loop import train

        train(run)


@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(TorchTrainer())
