"""Throughput of the torch plugin's own training step, for benchmarks/bench_throughput.py.

``setup(cfg, augment)`` returns the harness's two closures: one training pass over ``cfg.images``
images (phase 2: everything trainable, the plugin's loaders, Engine (AMP, channels_last on CUDA),
discriminative rates and one-cycle, under the plugin's thread settings) and one inference pass.
"""

from __future__ import annotations

import torch

import dlcompare
from dlcompare.kit import torch_runtime
from dlcompare.testing import synthetic_images

from . import data, model as model_lib, recipe
from .plugin import TorchTrainer
from .train import Engine


def setup(cfg, augment: bool = True):
    device = torch.device(cfg.device)
    cuda = device.type == "cuda"
    settings = TorchTrainer().resolve_params({})
    torch.manual_seed(0)
    net = model_lib.build(cfg.arch, cfg.classes)
    model_lib.set_phase(net, "phase2")
    engine = Engine(net, device)
    groups = model_lib.layer_groups(cfg.arch, engine.net)
    lrs = dlcompare.phase_lrs(settings, "phase2", len(groups))
    opt = recipe.make_optimizer(settings, recipe.param_groups(groups, lrs, settings["weight_decay"], settings["bn_wd"]))
    images, labels = synthetic_images(cfg.images, cfg.classes, cfg.size, seed=0)
    workers = cfg.workers if cuda else 0
    transform = data.augmentation(settings["augment"]) if augment else None
    train_loader = data.loader(images, labels, cfg.batch, True, 0, transform, workers=workers, pin_memory=cuda)
    eval_loader = data.loader(images, labels, cfg.batch, False, 0, pin_memory=cuda)
    sched = recipe.make_scheduler(settings, opt, len(train_loader) * (cfg.repeats + cfg.warmup + 1))

    def train_epoch():
        with torch_runtime.settings(device, cfg.threads):
            engine.train_epoch(train_loader, opt, sched)

    def infer():
        with torch_runtime.settings(device, cfg.threads):
            engine.predict(eval_loader)

    return train_epoch, infer
