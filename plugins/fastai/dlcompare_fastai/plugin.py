"""Registers the ``fastai`` trainer. fastai and torch load only when a run trains, so `dlcompare
plugins` lists this plugin even when fastai itself is broken."""

from __future__ import annotations

import dlcompare
from dlcompare import ARCHS, Run, Trainer
from dlcompare.kit import torch_runtime


class FastaiTrainer(Trainer):
    """fastai 2: vision_learner and fit_one_cycle, the fastai column of the thesis's Table 4.1 with fastai
    2.8's one-cycle and Adam defaults (fastai v1's, the thesis's library, are params: docs/canonical-recipe.md)."""

    name = "fastai"
    architectures = ARCHS
    params_schema = dlcompare.package_schema(__package__)

    def library_version(self) -> str:
        import fastai

        return fastai.__version__

    def gpu_count(self) -> int:
        return torch_runtime.gpu_count()

    def train(self, run: Run) -> None:
        from .train import train

        train(run)


@dlcompare.hookimpl
def dlcompare_register_trainers(register):
    register(FastaiTrainer())
