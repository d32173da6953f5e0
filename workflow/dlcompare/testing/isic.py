"""A stand-in for the Kaggle *Skin Cancer ISIC* release with its exact shape (thesis 4.2.1), for
the acceptance test, the data benchmark and the download tests: same classes, same per-class
Train/Test counts (2,357 images), and the same 155 images filed under two classes.

The duplicates: 77 actinic-keratosis images (from Train) and 78 seborrheic-keratosis images (77
from Train, 1 from Test) also appear, byte-identical, under another class's Train folder; those
copies are part of the host class's count. Cleaning with ``min_images_per_class: 60`` must then
give ``EXPECTED``. The pixels are synthetic: the counts are the point.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

TRAIN_COUNTS = {
    "actinic keratosis": 114, "basal cell carcinoma": 376, "dermatofibroma": 95, "melanoma": 438,
    "nevus": 357, "pigmented benign keratosis": 462, "seborrheic keratosis": 77,
    "squamous cell carcinoma": 181, "vascular lesion": 139,
}
TEST_COUNTS = {name: 16 for name in TRAIN_COUNTS} | {"seborrheic keratosis": 3, "vascular lesion": 3}
# (class, split the original is in) -> how many of its images also sit in another class's Train.
CROSS_CLASS_COPIES = {("actinic keratosis", "Train"): 77, ("seborrheic keratosis", "Train"): 77,
                      ("seborrheic keratosis", "Test"): 1}
EXPECTED = {
    "before": 2357, "duplicates_removed": 310, "after_deduplication": 2047, "after": 1992,
    "classes_after": 7, "dropped": {"actinic keratosis": 53, "seborrheic keratosis": 2},
    "split": {"train": 1515, "valid": 378, "test": 99},
}


def _pixels(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour waves plus noise: compresses like a photograph, never repeats."""
    if size <= 16:
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    freq, phase = rng.uniform(1, 6, 3), rng.uniform(0, 2 * np.pi, 3)
    base = np.stack([128 + 90 * np.sin(2 * np.pi * f * (xx * np.cos(p) + yy * np.sin(p)) + p)
                     for f, p in zip(freq, phase)], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        Image.fromarray(array).save(buf, "JPEG", quality=90)
    else:
        Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def make_isic_raw(root: str | Path, image_size: int = 8, fmt: str = "png", seed: int = 0) -> Path:
    """Write ``<root>/Train/<class>/ISIC_*.<fmt>`` and ``<root>/Test/...`` with the release's counts.

    ``fmt`` is "png" (lossless; tiny random images for tests) or "jpg" (realistic for benchmarks).
    Returns ``root``.
    """
    if fmt not in ("png", "jpg"):
        raise ValueError(f"fmt must be png or jpg, got {fmt!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    hosts = [c for c in TRAIN_COUNTS if not any(c == src for src, _ in CROSS_CLASS_COPIES)]
    # Which copies each host class receives (round-robin), so its own originals are fewer.
    received: dict[str, list[tuple[str, str, int]]] = {h: [] for h in hosts}
    k = 0
    for (cls, split), n in CROSS_CLASS_COPIES.items():
        for i in range(n):
            received[hosts[k % len(hosts)]].append((cls, split, i))
            k += 1
    counter = 0
    originals: dict[tuple[str, str], list[Path]] = {}
    seen: set[bytes] = set()
    for split, counts in (("Train", TRAIN_COUNTS), ("Test", TEST_COUNTS)):
        for cls, count in counts.items():
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            own = count - (len(received.get(cls, ())) if split == "Train" else 0)
            paths = []
            while len(paths) < own:
                data = _encode(_pixels(rng, image_size), fmt)
                if data in seen:  # vanishingly unlikely; keeps the counts exact regardless
                    continue
                seen.add(data)
                path = folder / f"ISIC_{counter:07d}.{fmt}"
                path.write_bytes(data)
                paths.append(path)
                counter += 1
            originals[(cls, split)] = paths
    for host, copies in received.items():
        for cls, split, i in copies:
            source = originals[(cls, split)][i]
            shutil.copyfile(source, root / "Train" / host / source.name)
    for split, counts in (("Train", TRAIN_COUNTS), ("Test", TEST_COUNTS)):
        for cls, count in counts.items():
            found = sum(1 for _ in (root / split / cls).iterdir())
            if found != count:
                raise RuntimeError(f"fixture: {split}/{cls} has {found} files, expected {count}")
    return root
