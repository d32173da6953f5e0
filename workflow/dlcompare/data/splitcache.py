"""The decoded split cache: images resized once to uint8 arrays, so training jobs never re-decode
image files. Every plugin feeds from here, so all libraries see identical train/valid/test sets.

Layout under the split directory (``data/split``)::

    manifest.csv           path, label, split, sha256  (one row per image, the row order of record)
    classes.json           class names; a label's index is its position here
    cache/<split>_images.npy   uint8 (N, S, S, 3), rows in manifest order for that split
    cache/<split>_labels.npy   int64 (N,), indices into classes.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlcompare import atomic
from dlcompare.errors import UserError
from dlcompare.glossary import CLASSES, SPLITS


def cache_paths(split_dir: str | Path, split: str) -> tuple[Path, Path]:
    cache = Path(split_dir) / "cache"
    return cache / f"{split}_images.npy", cache / f"{split}_labels.npy"


def save_split(split_dir: str | Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, S, S, 3), got {images.dtype} {images.shape}")
    if len(images) != len(labels):
        raise ValueError("images and labels differ in length")
    for path, array in zip(cache_paths(split_dir, split), (images, labels.astype(np.int64))):
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, array)


def load_split(split_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 NHWC, labels int64) for one split, memory-mapped (cheap to call)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    img_path, lab_path = cache_paths(split_dir, split)
    if not img_path.is_file() or not lab_path.is_file():
        raise UserError(f"split cache missing under {split_dir}: run `dlcompare split` first")
    try:
        images, labels = np.load(img_path, mmap_mode="r"), np.load(lab_path)
    except (ValueError, OSError, EOFError) as exc:   # truncated: mmap length beyond the file
        raise UserError(f"split cache {split_dir}/cache ({split}) is truncated or corrupt ({exc}): "
                        f"run `dlcompare split` again (snakemake: --forcerun split)") from None
    if len(images) != len(labels):
        raise UserError(f"split cache {split_dir}/cache ({split}) has {len(images)} images but "
                        f"{len(labels)} labels: run `dlcompare split` again (snakemake: --forcerun split)")
    return images, labels


def save_classes(split_dir: str | Path, classes: list[str]) -> None:
    atomic.write_json(Path(split_dir) / CLASSES, list(classes))


def require(path: Path) -> Path:
    """``path``, or a UserError when the split stage has not written it."""
    if not path.is_file():
        raise UserError(f"{path} missing: run `dlcompare split` first")
    return path


def load_classes(split_dir: str | Path) -> list[str]:
    path = require(Path(split_dir) / CLASSES)
    return json.loads(path.read_text(encoding="utf-8"))
