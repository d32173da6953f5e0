"""Batches from the decoded split cache (uint8 NHWC arrays, manifest row order).

A dataset is indexed with a whole batch of indices at once (one numpy gather per batch instead of
one Python call per image). Augmentation (training set only) runs per image with
``torchvision.transforms.v2`` on uint8 tensors, so each image gets its own random flip, rotation,
zoom and brightness. Scaling to 0..1 and the ImageNet normalisation run on the device, per batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from torchvision.transforms import v2

from dlcompare.weights import IMAGENET_MEAN, IMAGENET_STD


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


def augmentation(cfg: dict):
    """The training-set transforms from the ``augment`` section (None when all are off).

    Like fastai's aug_transforms: flips, rotation up to ``rotation`` degrees, zoom in up to
    ``zoom`` (1 = none), brightness scaled by up to +-``brightness``. Rotation and zoom share one
    bilinear affine warp; corners it uncovers are black (fastai pads by reflection).
    """
    steps = []
    if cfg.get("flip_horizontal"):
        steps.append(v2.RandomHorizontalFlip())
    if cfg.get("flip_vertical"):
        steps.append(v2.RandomVerticalFlip())
    rotation, zoom = float(cfg.get("rotation", 0)), float(cfg.get("zoom", 1))
    if rotation > 0 or zoom > 1:
        steps.append(v2.RandomAffine(degrees=rotation, scale=(1.0, zoom),
                                     interpolation=v2.InterpolationMode.BILINEAR))
    if cfg.get("brightness", 0) > 0:
        steps.append(v2.ColorJitter(brightness=cfg["brightness"]))
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
