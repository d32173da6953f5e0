"""Every library plugin feeds its models the same sets: the validation and test images are the
cached arrays in manifest row order, and one training epoch draws only (and, but for the dropped
last partial batch, all) training rows.

Each FEEDS entry runs one plugin's own data code for a run and returns what its model would see,
as uint8 NHWC pixels: ``{"valid": (images, labels), "test": (images, labels), "train": images of
one epoch, augmentation off}``. A new library adds an entry; an entry whose plugin is not
installed is skipped, not passed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcompare.host.contract import Run
from dlcompare.data.splitcache import load_classes
from dlcompare.testing import make_split

SIZES = (30, 13, 7)     # none a multiple of the batch: partial batches everywhere
BATCH = 8


def nhwc(images) -> np.ndarray:
    return torch.as_tensor(images).permute(0, 2, 3, 1).numpy()


def torch_feed(run: Run) -> dict:
    data = pytest.importorskip("dlcompare_torch.data")
    train, evals = data.run_loaders(run, augment={}, device=torch.device("cpu"))   # what train.train builds
    out = {split: tuple(np.concatenate(part) for part in zip(*[(nhwc(x), y.numpy()) for x, y in dl]))
           for split, dl in evals.items()}
    out["train"] = np.concatenate([nhwc(x) for x, _ in train])
    return out


def fastai_feed(run: Run) -> dict:
    pytest.importorskip("fastai")
    from dlcompare_fastai import data

    dls, test_dl, _ = data.dataloaders(run, augment=False)   # what train.train builds

    def pixels(x):   # fastai's IntToFloatTensor divided the uint8 pixels by 255
        return nhwc((x * 255).round().to(torch.uint8).cpu())

    out = {}
    for split, dl in (("valid", dls.valid), ("test", test_dl)):
        xs, ys = zip(*[(pixels(x), y.cpu().numpy()) for x, y in dl])
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    out["train"] = np.concatenate([pixels(x) for x, _ in dls.train])
    return out


def keras_feed(run: Run) -> dict:
    pytest.importorskip("tensorflow")
    data = pytest.importorskip("dlcompare_keras.data")
    arrays = {split: run.load(split) for split in ("train", "valid", "test")}
    feeder = data.Feeder(arrays, run.batch_size, run.seed, augment={})   # what train._train builds

    def pixels(x):   # float32 0..255
        return np.rint(np.asarray(x)).astype(np.uint8)

    out = {split: (np.concatenate([pixels(x) for x in feeder.evaluate(split)])[: feeder.rows(split)],
                   np.asarray(feeder.labels[split])) for split in ("valid", "test")}   # padding dropped
    out["train"] = np.concatenate([pixels(x) for x, _ in feeder.train(0, 1, augment=False)])
    return out


FEEDS = {"torch": torch_feed, "fastai": fastai_feed, "keras": keras_feed}


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("parity"), n_classes=3, sizes=SIZES, image_size=16)


def make_run(tmp_path, split_dir, library: str) -> Run:
    return Run(library=library, arch="resnet18", seed=0, device="cpu", pretrained="none",
               image_size=16, batch_size=BATCH, threads=1, classes=load_classes(split_dir),
               split_dir=split_dir, out_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
               params={})


def row_index(images: np.ndarray) -> dict[bytes, int]:
    index = {image.tobytes(): i for i, image in enumerate(images)}
    assert len(index) == len(images), "the synthetic images must be distinct"
    return index


@pytest.mark.parametrize("library", FEEDS)
def test_plugin_sees_the_cached_sets(library, tmp_path, split_dir):
    run = make_run(tmp_path, split_dir, library)
    fed = FEEDS[library](run)
    for split in ("valid", "test"):
        images, labels = run.load(split)
        got_images, got_labels = fed[split]
        np.testing.assert_array_equal(got_images, images, err_msg=f"{library} {split} images")
        np.testing.assert_array_equal(got_labels, labels, err_msg=f"{library} {split} labels")
    train_images, _ = run.load("train")
    index = row_index(train_images)
    rows = [index.get(image.tobytes(), -1) for image in fed["train"]]
    assert -1 not in rows, f"{library} trains on images outside the train split"
    assert len(set(rows)) == len(rows) == (SIZES[0] // BATCH) * BATCH   # each row once, last partial batch dropped
    assert rows != sorted(rows)                                          # shuffled

