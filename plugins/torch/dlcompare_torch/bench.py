"""The bare PyTorch loop that benchmarks/bench_throughput.py sets beside the torch plugin.

What anyone would write without dlcompare: a per-image ``Dataset`` with the same
torchvision.transforms.v2 augmentation, a shuffling ``DataLoader`` (``cfg.workers`` workers),
the same network, AdamW with OneCycleLR at the plugin's phase-2 rates, autocast when
``cfg.precision`` is mixed, and one validation pass per epoch. No checkpoints, no bookkeeping.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from dlcompare.kit.weights import IMAGENET_MEAN, IMAGENET_STD

from . import data, model as model_lib
from .plugin import TorchTrainer


class Images(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(np.array(self.images[i])).permute(2, 0, 1)
        return (self.transform(x) if self.transform else x), int(self.labels[i])


def bare(cfg, arrays: dict, classes: list, on_epoch, workdir) -> None:
    """Train ``1 + cfg.epochs`` epochs; ``on_epoch()`` after each epoch's validation."""
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda:0" if cfg.device == "cuda" else "cpu")
    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = bool(cfg.autotune)
    settings = TorchTrainer().resolve_params({})
    torch.manual_seed(0)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    net = model_lib.build(cfg.arch, len(classes)).to(device, memory_format=fmt)
    lo, hi = settings["phase2"]["lr"]
    opt = torch.optim.AdamW(net.parameters(), lr=hi, betas=tuple(settings["betas"]), eps=settings["eps"],
                            weight_decay=settings["weight_decay"])
    loaders = {
        "train": DataLoader(Images(*arrays["train"], data.augmentation(settings["augment"])), cfg.batch,
                            shuffle=True, drop_last=True, num_workers=cfg.workers, pin_memory=cuda,
                            persistent_workers=cfg.workers > 0),
        "valid": DataLoader(Images(*arrays["valid"]), cfg.batch, num_workers=cfg.workers, pin_memory=cuda),
    }
    epochs = 1 + cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, hi, total_steps=epochs * len(loaders["train"]), pct_start=0.25)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    mixed = cfg.precision == "mixed"
    amp_dtype = torch.bfloat16 if not cuda or torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=mixed and amp_dtype == torch.float16)

    def inputs(x):
        return (x.to(device, non_blocking=True).to(torch.float32, memory_format=fmt) - mean) / std

    for _ in range(epochs):
        net.train()
        for x, y in loaders["train"]:
            with torch.autocast(device.type, dtype=amp_dtype, enabled=mixed):
                loss = F.cross_entropy(net(inputs(x)), y.to(device, non_blocking=True))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
        net.eval()
        correct = torch.zeros((), device=device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=amp_dtype, enabled=mixed):
            for x, y in loaders["valid"]:
                correct += (net(inputs(x)).argmax(1) == y.to(device)).sum()
        correct.item()
        on_epoch()
