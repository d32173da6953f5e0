"""The training recipe from the ``torch:`` params section: optimizer, one-cycle, discriminative rates.

The defaults (params.schema.yaml) are the fastai column of the thesis's Table 4.1, written out the way fastai 2.8 runs it, so
"fastai vs. the same recipe in raw PyTorch" is a fair control (fastai v1, which the thesis ran, is
``pct_start: 0.3, div_final: 2.5e5, eps: 1.0e-8, bn_wd: true``; docs/canonical-recipe.md):

- Adam with decoupled weight decay 0.01 (fastai's ``Adam`` default ``decouple_wd=True`` = AdamW),
  betas (0.9, 0.99), eps 1e-5, and no weight decay on BatchNorm weights and biases
  (fastai's ``wd_bn_bias=False``; ``bn_wd: true`` decays them too);
- ``fit_one_cycle``: OneCycleLR with pct_start 0.25, cosine annealing, lr from max/25 up to max and
  down to max/1e5 (fastai's div=25, div_final=1e5: ``div``, ``div_final``), beta1 cycling 0.95 -> 0.85 -> 0.95;
- augmentation: fastai's ``aug_transforms(flip_vert=True)`` in torchvision.transforms.v2: with
  probability 1/2 one of the 8 dihedral symmetries (no separate flips), rotation 10, zoom 1.1,
  warp 0.2 and lighting 0.2, each with probability 0.75;
- phase1: 15 epochs at 3e-3 for every group (head + body BatchNorm train); phase2: 40 epochs,
  rates 5e-6 .. 5e-4 spread geometrically over the three layer groups (fastai's ``slice``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

def _no_decay(module, name: str) -> bool:
    return isinstance(module, nn.modules.batchnorm._NormBase) or name == "bias"


def param_groups(groups: list[tuple[str, list]], lrs: list[float], weight_decay: float,
                 bn_wd: bool = False) -> list[dict]:
    """Optimizer param groups: per layer group, trainable params with and without weight decay
    (``bn_wd``: BatchNorm and bias decay too, as fastai v1's ``bn_wd=True``).

    ``groups`` is [(name, [modules])]. Frozen params (requires_grad False) are left out; empty
    groups are dropped. Each dict carries ``name`` (e.g. ``head/decay``) for logs and tests.
    """
    result = []
    for (name, modules), lr in zip(groups, lrs, strict=True):
        decay, no_decay = [], []
        for module in modules:
            for sub in module.modules():
                for pname, param in sub.named_parameters(recurse=False):
                    if param.requires_grad:
                        (no_decay if not bn_wd and _no_decay(sub, pname) else decay).append(param)
        for suffix, params, wd in (("decay", decay, weight_decay), ("no_decay", no_decay, 0.0)):
            if params:
                result.append({"params": params, "lr": lr, "weight_decay": wd, "name": f"{name}/{suffix}"})
    return result


def make_optimizer(cfg: dict, groups: list[dict]):
    kind = cfg["optimizer"]
    beta1, beta2 = cfg["betas"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=beta1)
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return cls(groups, lr=groups[0]["lr"], betas=(beta1, beta2), eps=cfg["eps"])


def make_scheduler(cfg: dict, optimizer, total_steps: int):
    """OneCycleLR stepped once per batch (None when one_cycle is off: constant rates).

    Each group's peak is its own lr (discriminative rates stay discriminative along the cycle);
    momentum (beta1 for Adam) cycles between ``moms``. OneCycleLR divides by the steps of each half,
    so a tiny run (a handful of batches) gets at least one step up and one down; under three steps
    there is no cycle to run and the rates stay constant.
    """
    if not cfg["one_cycle"] or total_steps < 3:
        return None
    high, low = cfg["moms"]
    pct_start = min(max(cfg["pct_start"], 2 / total_steps), (total_steps - 1) / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total_steps,
        pct_start=pct_start, anneal_strategy="cos", cycle_momentum=True,
        base_momentum=low, max_momentum=high, div_factor=cfg["div"], final_div_factor=cfg["div_final"] / cfg["div"],
        three_phase=False)
