"""Synthetic, learnable split for plugin tests and the conformance suite (no download needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dlcompare import atomic
from dlcompare.data import splitcache
from dlcompare.glossary import MANIFEST, MANIFEST_COLUMNS, SPLIT_DIR


def synthetic_images(n: int, n_classes: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class is a bright stripe at its own angle plus noise: easy to learn, not trivial."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        angle = np.pi * label / n_classes
        stripe = np.exp(-((np.cos(angle) * xx + np.sin(angle) * yy) ** 2) / 0.01)
        base = 40 + 180 * stripe[..., None] * np.array([1.0, 0.6 + 0.4 * (label % 2), 0.8])
        images[i] = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def make_split(root: str | Path, n_classes: int = 3, sizes=(48, 18, 12), image_size: int = 32,
               seed: int = 0) -> Path:
    """Write ``<root>/data/split`` (manifest, classes, cache) as `dlcompare split` would."""
    split_dir = Path(root) / SPLIT_DIR
    classes = [f"class_{i}" for i in range(n_classes)]
    splitcache.save_classes(split_dir, classes)
    rows = []
    for k, (split, n) in enumerate(zip(("train", "valid", "test"), sizes)):
        images, labels = synthetic_images(n, n_classes, image_size, seed + k)
        splitcache.save_split(split_dir, split, images, labels)
        rows += [{"path": f"synthetic/{split}/{i}.png", "label": classes[y], "split": split,
                  "sha256": f"{k:02d}{i:062d}"} for i, y in enumerate(labels)]
    with atomic.atomic_path(split_dir / MANIFEST) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return split_dir
