"""fastai DataLoaders over the project's decoded split cache (never the image folders).

Every library reads the same uint8 arrays through ``run.load``, so the train/valid/test
membership and row order are the project's, not fastai's. Items are integers into one index over
the three splits (train rows first, then valid, then test); a ``Datasets`` turns an item into a
``TensorImage`` (uint8, CHW) and a class name that ``Categorize`` maps with the project's class
order. Augmentation runs as fastai batch transforms on the training set only, on the run's device
(fastai moves each collated uint8 batch to the device before ``after_batch``), and items are the
cached uint8 pixels as they are: nothing is decoded or resized again. ``train.workers`` sets the
loaders' ``num_workers``.
"""

from __future__ import annotations

import numpy as np
import torch
from fastai.data.core import Datasets
from fastai.data.transforms import Categorize, IntToFloatTensor
from fastai.torch_core import TensorImage
from fastai.vision.augment import aug_transforms

from dlcompare.errors import UserError
from dlcompare.glossary import SPLITS

class ArraySource:
    """The three cached splits behind one integer index: train, then valid, then test rows."""

    def __init__(self, run):
        self.classes = list(run.classes)
        self.arrays = {split: run.load(split) for split in SPLITS}
        self.offsets, start = {}, 0
        for split in SPLITS:
            self.offsets[split] = start
            start += len(self.arrays[split][1])

    def items(self, split: str) -> list[int]:
        start = self.offsets[split]
        return list(range(start, start + len(self.arrays[split][1])))

    def locate(self, item: int) -> tuple[str, int]:
        """(split, row within that split's manifest rows) for one item."""
        for split in reversed(SPLITS):
            if item >= self.offsets[split]:
                return split, int(item - self.offsets[split])
        raise IndexError(item)

    def image(self, item: int) -> TensorImage:
        split, row = self.locate(item)
        pixels = np.array(self.arrays[split][0][row])   # a writable copy out of the memory map
        return TensorImage(torch.from_numpy(pixels).permute(2, 0, 1))

    def label(self, item: int) -> str:
        split, row = self.locate(item)
        return self.classes[int(self.arrays[split][1][row])]


def augmentation(cfg: dict) -> list:
    """Thesis Table 4.1: fastai's aug_transforms() plus vertical flip. With flip_vert=True fastai
    replaces its horizontal Flip with Dihedral (one of the 8 symmetries of the square), as fastai
    v1's get_transforms(flip_vert=True) did in the thesis; flip_vert=false gives plain flips and
    do_flip=false none (label-preserving for digits)."""
    return aug_transforms(do_flip=cfg["do_flip"], flip_vert=cfg["flip_vert"], max_rotate=cfg["max_rotate"],
                          max_zoom=cfg["max_zoom"], max_lighting=cfg["max_lighting"])


def dataloaders(run, source: ArraySource | None = None, augment: bool = True):
    """(DataLoaders for train/valid, test DataLoader, source); test rows in manifest order.

    The training loader shuffles and drops the last incomplete batch (fastai's defaults); the
    validation and test loaders do neither.
    """
    source = source or ArraySource(run)
    train_items, valid_items = source.items("train"), source.items("valid")
    if len(train_items) < run.batch_size:
        raise UserError(f"the train split has {len(train_items)} images, fewer than "
                        f"train.batch_size={run.batch_size}: lower the batch size")
    splits = [list(range(len(train_items))), list(range(len(train_items), len(train_items) + len(valid_items)))]

    def image(item):   # plain functions: fastai's Transform rejects bound methods
        return source.image(item)

    def label(item):
        return source.label(item)

    dsets = Datasets(train_items + valid_items,
                     tfms=[[image], [label, Categorize(vocab=source.classes, sort=False)]], splits=splits)
    batch_tfms = [IntToFloatTensor()]
    if augment:
        batch_tfms += augmentation(run.params["augment"])
    dls = dsets.dataloaders(bs=run.batch_size, after_batch=batch_tfms, device=torch.device(run.device),
                            num_workers=getattr(run, "workers", 0), path=run.checkpoint_dir)
    test_dl = dls.test_dl(source.items("test"), with_labels=True)
    return dls, test_dl, source
