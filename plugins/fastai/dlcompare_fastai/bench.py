"""The plain fastai loop that benchmarks/bench_throughput.py sets beside the fastai plugin.

What a fastai user would write: the images as PNG files in train/valid folders,
``ImageDataLoaders.from_folder`` with the same ``aug_transforms`` as batch transforms
(``cfg.workers`` workers), ``vision_learner`` on the torchvision builder from random weights,
``unfreeze()`` and ``fit_one_cycle`` at the plugin's phase-2 rates (``to_bf16``/``to_fp16`` when
``cfg.precision`` is mixed). fastai validates once per epoch; nothing is saved.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.models
from fastai.callback.core import Callback
from fastai.metrics import accuracy
from fastai.vision.data import ImageDataLoaders
from fastai.vision.learner import vision_learner
from PIL import Image

from . import data, recipe
from .plugin import FastaiTrainer


class EpochEnd(Callback):
    order = 100

    def __init__(self, on_epoch):
        self.on_epoch = on_epoch

    def after_epoch(self):
        self.on_epoch()


def write_folders(arrays: dict, classes: list, root: Path) -> Path:
    for split, (images, labels) in arrays.items():
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = root / split / classes[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i}.png")
    return root


def bare(cfg, arrays: dict, classes: list, on_epoch, workdir: Path) -> None:
    """Train ``1 + cfg.epochs`` epochs; ``on_epoch()`` after each (fastai validates first)."""
    torch.set_num_threads(cfg.threads)
    torch.backends.cudnn.benchmark = bool(cfg.autotune)
    settings = FastaiTrainer().resolve_params({})
    root = write_folders(arrays, classes, Path(workdir))
    device = torch.device("cuda:0" if cfg.device == "cuda" else "cpu")
    torch.manual_seed(0)
    dls = ImageDataLoaders.from_folder(root, train="train", valid="valid", bs=cfg.batch, device=device,
                                       num_workers=cfg.workers, batch_tfms=data.augmentation(settings["augment"]))
    learn = vision_learner(dls, torchvision.models.resnet18 if cfg.arch == "resnet18" else getattr(torchvision.models, cfg.arch),
                           pretrained=False, metrics=accuracy, wd=settings["weight_decay"])
    if cfg.precision == "mixed":
        learn = learn.to_bf16() if device.type == "cpu" or torch.cuda.is_bf16_supported() else learn.to_fp16()
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1 + cfg.epochs, recipe.fastai_lr(settings["phase2"]["lr"]), cbs=[EpochEnd(on_epoch)])
