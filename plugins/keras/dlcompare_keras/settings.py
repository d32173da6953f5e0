"""The ``keras:`` params section: its defaults (the Keras column of the thesis's Table 4.1) and
the learning rate of each layer group per phase. Pure Python: nothing here imports Keras, so the
backend can be chosen from these settings before Keras loads.

Defaults: TensorFlow backend; Adam with Keras's default betas (0.9, 0.999) (and epsilon, 1e-7);
L2 0.01 on every kernel; head Dense 512 units, Dropout 0.5; phase1 50 epochs at 3e-3, phase2 100
epochs at 3e-5, constant rates; the augmentation of data.py. ``one_cycle``/``discriminative``
(off by default) switch on the variant of recipe.py, with fastai's ``pct_start`` and ``moms``.
"""

from __future__ import annotations

import copy

from dlcompare.kit.rates import phase_lrs  # noqa: F401  (part of this module's API)

DEFAULTS = {
    "backend": "tensorflow",
    "beta_1": 0.9,
    "beta_2": 0.999,
    "l2": 0.01,
    "dropout": 0.5,
    "dense_units": 512,
    "one_cycle": False,
    "discriminative": False,
    "pct_start": 0.25,
    "moms": [0.95, 0.85],
    "phase1": {"epochs": 50, "lr": 3e-3},
    "phase2": {"epochs": 100, "lr": 3e-5},
    "augment": {"flip_horizontal": True, "flip_vertical": True, "rotation": 0.03, "zoom": 0.1,
                "brightness": 0.1, "shear": 0.1},
}
DIV = 25.0          # one-cycle: first rate = max / DIV (fastai's div)
DIV_FINAL = 1e5     # one-cycle: last rate = max / DIV_FINAL (fastai's div_final)


def settings(section: dict) -> dict:
    """DEFAULTS overridden by the params section (nested dicts merged key by key)."""
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (section or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


