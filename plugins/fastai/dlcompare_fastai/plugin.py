"""The fastai trainer, registered with dlcompare through the ``dlcompare`` entry point group.

Nothing heavy is imported here: fastai and torch load only when a run trains, so `dlcompare
plugins` lists this plugin even when fastai itself is broken.
"""

from __future__ import annotations

import dlcompare
from dlcompare.kit import torch_runtime
from dlcompare.host.contract import Run, Trainer
from dlcompare.kit.weights import TORCHVISION_NAMES


class FastaiTrainer(Trainer):
    name = "fastai"
    architectures = tuple(TORCHVISION_NAMES)

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
