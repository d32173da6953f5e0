"""The thesis's fastai recipe (Table 4.1): vision_learner with fastai's default head, Adam with
one-cycle momentums, weight decay, phase 1 = body frozen except BatchNorm with
``fit_one_cycle(epochs, lr)``, phase 2 = ``unfreeze()`` then ``fit_one_cycle(epochs, slice(lo, hi))``
(discriminative rates spread geometrically over fastai's layer groups). Not ``fine_tune``, which
is a different schedule.

Every value comes from the ``fastai:`` params section; its defaults (params.schema.yaml) are the
thesis's rates and budgets with fastai 2.8's one-cycle and Adam defaults. The thesis ran fastai v1:
``pct_start``, ``div_final``, ``eps`` and ``bn_wd`` express its defaults (docs/canonical-recipe.md).

The learning-rate finder runs before each phase whenever ``lr_find_iterations`` > 0 (fastai's
default, 100, in the thesis profile) and its suggestions go into run.json for the memoir. As in
the thesis it is consulted, not obeyed: the phases train with the fixed rates of the params unless
``use_lr_find`` is true, in which case phase 1 trains at the ``valley`` suggestion and phase 2 at
``slice(valley * lo / hi, valley)`` (the configured spread, moved to the suggestion).
"""

from __future__ import annotations

import math
import time

import torch
from fastai.callback.schedule import minimum, slide, steep, valley

LR_FIND_ITERATIONS = 100     # fastai's lr_find default num_it
LR_FIND_SUGGESTION = "valley"   # the suggestion use_lr_find trains with (fastai's default one)
ONE_CYCLE_KEYS = ("pct_start", "div", "div_final")      # fit_one_cycle's arguments, from the params


def one_cycle(cfg: dict) -> dict:
    """``fit_one_cycle``'s schedule arguments, recorded in run.json with the rest of the recipe."""
    return {key: float(cfg[key]) for key in ONE_CYCLE_KEYS}


def phase_lr(cfg: dict, phase: str, found: dict | None):
    """The rate(s) ``phase`` trains with (a number or [lo, hi]) and where they came from.

    The params' rates, unless ``use_lr_find`` and the finder gave a ``valley`` suggestion.
    """
    lr = cfg[phase]["lr"]
    suggestion = ((found or {}).get("suggestions") or {}).get(LR_FIND_SUGGESTION)
    if not cfg["use_lr_find"] or not suggestion:
        return lr, "params"
    if isinstance(lr, (list, tuple)):
        return [suggestion * float(lr[0]) / float(lr[1]), suggestion], f"lr_find {LR_FIND_SUGGESTION}"
    return suggestion, f"lr_find {LR_FIND_SUGGESTION}"


def fastai_lr(lr):
    """A [lo, hi] pair becomes fastai's ``slice(lo, hi)``; one number stays one rate for all groups."""
    return slice(float(lr[0]), float(lr[1])) if isinstance(lr, (list, tuple)) else float(lr)


def fit_phase(learn, cfg: dict, phase: str, lr, cbs, start_epoch: int = 0) -> None:
    """``fit_one_cycle`` for one phase at ``lr`` (from :func:`phase_lr`)."""
    learn.fit_one_cycle(cfg[phase]["epochs"], fastai_lr(lr), cbs=cbs, start_epoch=start_epoch, **one_cycle(cfg))


def lr_find(learn, num_it: int = LR_FIND_ITERATIONS) -> dict:
    """Run fastai's lr_find and return its four suggestions, the curve and its cost (for the memoir).

    The finder restores the weights (and optimizer state) it started from. Suggestions are computed here, one by one,
    on the same trimmed curve fastai uses, because fastai lets one failing suggestion (``slide``
    needs 20 points; a loss that diverges early gives fewer) lose them all.
    """
    began = time.perf_counter()
    learn.lr_find(num_it=num_it, show_plot=False, suggest_funcs=None)
    seconds = time.perf_counter() - began
    lrs = torch.tensor(learn.recorder.lrs[num_it // 10:-5])
    losses = torch.tensor([float(v) for v in learn.recorder.losses[num_it // 10:-5]])
    finite = torch.nonzero(torch.isnan(losses))
    if len(finite):
        lrs, losses = lrs[:int(finite.min())], losses[:int(finite.min())]
    suggestions = {}
    for func in (valley, slide, minimum, steep):
        try:
            suggestions[func.__name__] = _finite(func(lrs, losses, num_it)[0])
        except (IndexError, ValueError, RuntimeError):
            suggestions[func.__name__] = None
    curve = {"lr": [float(v) for v in learn.recorder.lrs],
             "loss": [_finite(float(v)) for v in learn.recorder.losses]}
    return {"suggestions": suggestions, "curve": curve, "iterations": num_it, "seconds": seconds}


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None
