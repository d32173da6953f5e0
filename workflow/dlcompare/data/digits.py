"""The default dataset: scikit-learn's embedded 8x8 digits written as RGB PNGs in the ISIC
layout (Train/<class>/, Test/<class>/), so the whole pipeline runs offline in seconds.

Choices (documented in the README's dataset section):
- class folders are the digits "0" .. "9" (sorted order = numeric order);
- file names are sklearn's row index, ``<index:04d>.png``, so any image traces back to
  ``load_digits().images[index]``;
- the 0..16 ink levels are scaled to 0..255 grey (white ink on black), copied to R, G and B;
- upscaling uses bicubic resampling: smooth strokes like a photographed digit rather than
  8x8 blocks; Pillow's fixed-point resampling makes it bit-for-bit deterministic;
- the test split is a stratified ``test_fraction`` share chosen with ``split_seed``
  (scikit-learn's train_test_split), so every class has test images;
- PNGs carry no metadata (no tIME/tEXt chunks): the same parameters give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = tuple(str(d) for d in range(10))
RESAMPLING = Image.Resampling.BICUBIC


def to_rgb(image8: np.ndarray, image_size: int) -> Image.Image:
    """One 8x8 digit (ink 0..16) as an RGB image of image_size x image_size."""
    grey = np.rint(np.asarray(image8, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    img = Image.fromarray(grey)  # uint8 2-D: mode "L"
    if image_size != grey.shape[0]:
        img = img.resize((image_size, image_size), resample=RESAMPLING)
    return img.convert("RGB")


def write_digits(dest: str | Path, image_size: int, test_fraction: float, seed: int) -> dict:
    """Write Train/<digit>/*.png and Test/<digit>/*.png under ``dest``; return the counts."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train_idx, test_idx = train_test_split(indices, test_size=test_fraction, random_state=seed,
                                           stratify=digits.target)
    dest = Path(dest)
    counts = {}
    for split, chosen in (("Train", train_idx), ("Test", test_idx)):
        for label in CLASSES:
            (dest / split / label).mkdir(parents=True, exist_ok=True)
        for index in sorted(chosen.tolist()):
            path = dest / split / CLASSES[digits.target[index]] / f"{index:04d}.png"
            to_rgb(digits.images[index], image_size).save(path, format="PNG")
        counts[split] = len(chosen)
    return counts
