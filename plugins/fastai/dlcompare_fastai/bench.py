"""Throughput of the fastai plugin's own training step, for benchmarks/bench_throughput.py.

``setup(cfg, augment)`` returns the harness's two closures: one training pass over ``cfg.images``
images (phase 2: everything trainable, ``fit_one_cycle`` with the discriminative rates, fastai's
callbacks and the plugin's PhaseLog, validation skipped) and one inference pass (``get_preds``
on a test loader). Same model family, data and batch size as the torch entries; fastai runs in
float32 as in the thesis (the torch plugin uses autocast on CUDA).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch
from fastai.callback.core import Callback, CancelValidException

from dlcompare.kit import torch_runtime
from dlcompare.testing import synthetic_images

from . import data, model, recipe
from .callbacks import PhaseLog, new_observed
from .plugin import FastaiTrainer


class SkipValidation(Callback):
    """Time the training step only (the harness times inference separately)."""

    def before_validate(self):
        raise CancelValidException


class BenchPhaseLog(PhaseLog):
    """The plugin's per-batch bookkeeping; the per-epoch row and checkpoint are not per image."""

    def after_epoch(self):
        pass


def setup(cfg, augment: bool = True):
    device = torch.device(cfg.device)
    n = (cfg.images // cfg.batch) * cfg.batch          # full batches only, as in every entry
    images, labels = synthetic_images(n, cfg.classes, cfg.size, seed=0)
    arrays = {"train": (images, labels), "valid": (images[: cfg.batch], labels[: cfg.batch]),
              "test": (images, labels)}
    workdir = Path(tempfile.mkdtemp(prefix="dlcompare-bench-fastai-"))   # fastai's path/model_dir
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    cfg_fastai = FastaiTrainer().resolve_params({})
    run = SimpleNamespace(arch=cfg.arch, classes=[f"class_{i}" for i in range(cfg.classes)],
                          load=arrays.__getitem__, batch_size=cfg.batch, device=str(device),
                          pretrained="none", checkpoint_dir=workdir, params=cfg_fastai, log=lambda line: None)
    with torch_runtime.settings(device, cfg.threads):
        torch.manual_seed(0)
        dls, test_dl, _ = data.dataloaders(run, augment=augment)
        learn = model.build_learner(run, dls, cfg_fastai)
        learn.unfreeze()
    lr = recipe.fastai_lr(cfg_fastai["phase2"]["lr"])

    def train_epoch():
        with torch_runtime.settings(device, cfg.threads):
            log_cb = BenchPhaseLog("phase2", 0, new_observed(), on_epoch=None)
            learn.fit_one_cycle(1, lr, cbs=[log_cb, SkipValidation()], **recipe.one_cycle(cfg_fastai))
            if device.type == "cuda":
                torch.cuda.synchronize(device)

    def infer():
        with torch_runtime.settings(device, cfg.threads):
            learn.get_preds(dl=test_dl)

    return train_epoch, infer
