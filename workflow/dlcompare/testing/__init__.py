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


def tiny_run(root: str | Path, library: str, params: dict, out: str = "out", seed: int = 0,
             log=lambda _: None):
    """A :class:`~dlcompare.host.contract.Run` of ``library`` on a 3-class 16 px split under
    ``root`` (made once), writing into ``root/out``: what a plugin's tests train on.
    ``params``: the library's section, already resolved."""
    from dlcompare.host.contract import Run

    split_dir = Path(root) / SPLIT_DIR
    if not split_dir.exists():
        make_split(root, n_classes=3, sizes=(24, 9, 6), image_size=16)
    (Path(root) / out).mkdir(parents=True, exist_ok=True)
    return Run(library=library, arch="resnet18", seed=seed, device="cpu", pretrained="none",
               image_size=16, batch_size=8, threads=1, classes=splitcache.load_classes(split_dir),
               split_dir=split_dir, out_dir=Path(root) / out, checkpoint_dir=Path(root) / "ckpt" / out,
               params=params, log=log)


def seed_hub_weights(arch: str, seed: int):
    """Put a torchvision ``arch`` with weights drawn from ``seed`` where the torch hub cache keeps
    its ImageNet file (under $TORCH_HOME: set it to a temporary folder first), and return that
    model: "pretrained" without a download, with known tensors to compare against."""
    import torch
    import torchvision

    from dlcompare.kit import weights

    torch.manual_seed(seed)
    reference = getattr(torchvision.models, weights.torchvision_name(arch))()
    path = weights.cached_weights_path(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference.state_dict(), path)
    return reference
