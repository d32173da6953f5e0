"""The fastai model: ``vision_learner`` on the torchvision builder for the canonical architecture,
fastai's default head, and the parameter counts the optimizer sees (the same jobs as the other
plugins' model.py)."""

from __future__ import annotations

import warnings
from functools import partial

import torch

import torchvision.models
from fastai.callback.fp16 import AMPMode, MixedPrecision
from fastai.callback.progress import ProgressCallback
from fastai.metrics import accuracy
from fastai.optimizer import Adam
from fastai.torch_core import params as module_params
from fastai.vision.learner import vision_learner
from fastcore.basics import noop
from torch.amp import autocast

from dlcompare.kit import torch_runtime, weights

HEAD = ("fastai create_head: AdaptiveConcatPool2d, Flatten, BatchNorm1d, Dropout(0.25), Linear(2*nf, 512), "
        "ReLU, BatchNorm1d, Dropout(0.5), Linear(512, n_classes)")


def build_learner(run, dls, cfg: dict):
    """vision_learner on the torchvision builder for ``run.arch``, body frozen (train_bn=True).

    ImageNet weights (``IMAGENET1K_V1``, shared with the torch plugin through the torch hub cache)
    also make fastai add Normalize with the ImageNet statistics; from random initialisation fastai
    adds no normalisation. ``train.precision: mixed`` adds fastai's mixed-precision callback
    (bfloat16 where the device has it, else float16 with fastai's loss scaling). Phase 1 freezes the body either way: it is the protocol in every library.
    """
    pretrained = run.pretrained == "imagenet"
    if pretrained:
        weights.ensure_imagenet_weights(run.arch, log=run.log)   # one-line UserError when offline
    hi, lo = cfg["moms"]
    learn = vision_learner(
        dls, getattr(torchvision.models, weights.torchvision_name(run.arch)),
        pretrained=pretrained, weights=weights.imagenet_weights(run.arch) if pretrained else None,
        opt_func=partial(Adam, eps=cfg["eps"]), metrics=accuracy, wd=cfg["weight_decay"],
        wd_bn_bias=cfg["bn_wd"], moms=(hi, lo, hi), train_bn=True,
        path=run.checkpoint_dir, model_dir=".")
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    learn.logger = noop      # PhaseLog writes one line per epoch instead of the recorder's lists
    amp = torch_runtime.amp_dtype(torch.device(run.device), getattr(run, "precision", "fp32"))
    if amp is not None:
        learn.add_cb(DeviceMixedPrecision(amp_mode=AMPMode.BF16 if amp == torch.bfloat16 else AMPMode.FP16))
    learn.freeze()
    return learn


class DeviceMixedPrecision(MixedPrecision):
    """fastai's ``to_bf16``/``to_fp16`` callback (MixedPrecision), autocasting on the device the
    batches are on: fastai 2.8 opens ``autocast('cuda')`` whatever the device, which on a CPU
    leaves everything in float32. On CUDA it is fastai's callback unchanged."""

    def before_fit(self):
        if self.dls.device.type == "cuda":
            return super().before_fit()
        with warnings.catch_warnings():     # fastai's "CUDA is not available ... Disabling autocast"
            warnings.simplefilter("ignore", UserWarning)
            super().before_fit()
        self.autocast = autocast(self.dls.device.type, dtype=torch.bfloat16)


def parameter_counts(learn) -> dict:
    """Trainable and frozen parameter counts, and the layer groups, as the optimizer has them now."""
    model_params = list(learn.model.parameters())
    trainable = sum(p.numel() for p in model_params if p.requires_grad)
    groups = [sum(p.numel() for p in group) for group in learn.opt.param_lists]
    return {"trainable": trainable, "frozen": sum(p.numel() for p in model_params) - trainable,
            "layer_groups": len(groups), "group_sizes": groups, "head": sum(p.numel() for p in module_params(learn.model[1]))}
