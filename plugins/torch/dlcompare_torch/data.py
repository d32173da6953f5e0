"""Batches from the decoded split cache (uint8 NHWC arrays, manifest row order).

A dataset is indexed with a whole batch of indices at once (one numpy gather per batch instead of
one Python call per image). Augmentation (training set only) runs per image with
``torchvision.transforms.v2`` on uint8 tensors, so each image gets its own random flips, rotation,
zoom, warp, brightness and contrast. Scaling to 0..1 and the ImageNet normalisation run on the device, per batch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from torchvision.transforms import v2

from dlcompare.kit.weights import IMAGENET_MEAN, IMAGENET_STD


class ArrayBatches(Dataset):
    """``dataset[list_of_indices]`` -> (uint8 images B x 3 x S x S, int64 labels B)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices):
        idx = np.asarray(indices)
        images = torch.from_numpy(np.ascontiguousarray(self.images[idx])).permute(0, 3, 1, 2)
        if self.transform is not None:
            images = torch.stack([self.transform(image) for image in images])
        return images, torch.from_numpy(np.asarray(self.labels[idx], dtype=np.int64))


P_AFFINE = 0.75     # fastai aug_transforms: the chance each image gets the geometric change
P_LIGHTING = 0.75   # ... and the lighting change


class RandomDihedral(torch.nn.Module):
    """fastai's Dihedral (what ``flip_vert=True`` selects): with probability ``p`` one of the 8
    symmetries of the square, drawn uniformly (the identity among them)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return image
        k = int(torch.randint(8, ()))
        if k >= 4:
            image = image.transpose(-1, -2)
        return torch.rot90(image, k % 4, dims=(-2, -1))


def augmentation(cfg: dict):
    """The training-set transforms from the ``augment`` section (None when all are off).

    fastai's aug_transforms rebuilt from torchvision.transforms.v2: flips, each with probability
    1/2, or fastai's ``dihedral`` (with probability 1/2 one of the 8 symmetries), rotation up to ``rotation`` degrees and zoom in up to ``zoom``
    (1 = none) in one bilinear affine warp, a perspective ``warp`` (corners moved up to
    ``warp``/2 of the side, as fastai's max_warp), and brightness and contrast factors within
    1 +- ``brightness`` / ``contrast``. The geometric and lighting changes each happen with
    fastai's probability 0.75. Differences: the corners a warp uncovers are black (fastai pads by
    reflection) and lighting scales pixels (fastai works in logit space).
    """
    steps = []
    if cfg.get("flip_horizontal"):
        steps.append(v2.RandomHorizontalFlip())
    if cfg.get("flip_vertical"):
        steps.append(v2.RandomVerticalFlip())
    if cfg.get("dihedral"):
        steps.append(RandomDihedral())
    rotation, zoom = float(cfg.get("rotation", 0)), float(cfg.get("zoom", 1))
    if rotation > 0 or zoom > 1:
        steps.append(v2.RandomApply([v2.RandomAffine(degrees=rotation, scale=(1.0, zoom),
                                                     interpolation=v2.InterpolationMode.BILINEAR)], p=P_AFFINE))
    if cfg.get("warp", 0) > 0:
        steps.append(v2.RandomPerspective(distortion_scale=float(cfg["warp"]), p=P_AFFINE))
    lighting = {key: float(cfg[key]) for key in ("brightness", "contrast") if cfg.get(key, 0) > 0}
    if lighting:
        steps.append(v2.RandomApply([v2.ColorJitter(**lighting)], p=P_LIGHTING))
    return v2.Compose(steps) if steps else None


def loader(images, labels, batch_size: int, train: bool, seed: int, transform=None,
           workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """Shuffled, last partial batch dropped (as fastai) for training; in row order otherwise.

    The loader owns a generator seeded from ``seed`` (shuffling and worker seeds); checkpoints
    save its state (``loader.generator``) so a resumed run continues the same sequence.
    """
    dataset = ArrayBatches(images, labels, transform if train else None)
    generator = torch.Generator().manual_seed(seed)
    if train:
        sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size,
                               drop_last=len(dataset) > batch_size)
    else:
        sampler = BatchSampler(SequentialSampler(dataset), batch_size, drop_last=False)
    return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, generator=generator, persistent_workers=workers > 0)


def run_loaders(run, augment: dict, cuda: bool) -> tuple[DataLoader, dict[str, DataLoader]]:
    """The run's training loader and its ``valid``/``test`` loaders, over ``run.load`` (the cached
    split: every library's membership and row order). On CUDA: loader workers, pinned memory."""
    workers = min(8, os.cpu_count() or 1) if cuda else 0
    train_loader = loader(*run.load("train"), run.batch_size, True, run.seed, augmentation(augment),
                          workers=workers, pin_memory=cuda)
    eval_loaders = {split: loader(*run.load(split), run.batch_size, False, run.seed, pin_memory=cuda)
                    for split in ("valid", "test")}
    return train_loader, eval_loaders


class Inputs:
    """Move a uint8 batch to the device and normalise it there (ImageNet statistics)."""

    def __init__(self, device: torch.device, channels_last: bool = False):
        self.device, self.channels_last = device, channels_last
        shape = (1, 3, 1, 1)
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(shape) * 255
        self.std = torch.tensor(IMAGENET_STD, device=device).view(shape) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = images.to(self.device, non_blocking=True).to(dtype=torch.float32, memory_format=fmt)
        return (x - self.mean) / self.std
