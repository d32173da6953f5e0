"""`dlcompare download` for the default digits dataset: layout, content, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from dlcompare import params as params_mod
from dlcompare.data.digits import to_rgb
from dlcompare.data.download import download


def digits_params(**data) -> dict:
    base = {"dataset": "digits", "image_size": 16}
    base.update(data)
    return params_mod.validate({"data": base, "train": {"libraries": ["torch"], "archs": ["resnet18"],
                                                        "seeds": [0]}, "torch": {}})


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_in(folder: Path, monkeypatch, **data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    download(digits_params(**data), log=lambda msg: None)
    return folder / "data" / "raw"


def test_digits_layout_and_content(tmp_path, monkeypatch):
    from sklearn.datasets import load_digits

    raw = run_in(tmp_path, monkeypatch)
    assert sorted(p.name for p in raw.iterdir()) == ["SOURCE.json", "Test", "Train"]
    digits = load_digits()
    files = {split: sorted((raw / split).glob("*/*.png")) for split in ("Train", "Test")}
    assert len(files["Train"]) + len(files["Test"]) == 1797
    assert len(files["Test"]) == 90   # ceil(5 % of 1,797), stratified
    for split in ("Train", "Test"):
        assert sorted(p.name for p in (raw / split).iterdir()) == [str(d) for d in range(10)]
    indices = [int(p.stem) for split in files.values() for p in split]
    assert sorted(indices) == list(range(1797))   # every digit exactly once
    for path in files["Test"][:10] + files["Train"][::200]:
        index = int(path.stem)
        assert path.parent.name == str(digits.target[index])   # image in its own class folder
        with Image.open(path) as img:
            assert img.mode == "RGB" and img.size == (16, 16)
            assert not ({"tIME", "date:create", "Software"} & set(img.info))
            assert np.array_equal(np.asarray(img), np.asarray(to_rgb(digits.images[index], 16)))
    source = json.loads((raw / "SOURCE.json").read_text())
    assert source["dataset"] == "digits" and source["resampling"] == "bicubic"
    assert source["counts"] == {"Train": {"classes": 10, "files": 1707}, "Test": {"classes": 10, "files": 90}}


def test_digits_upscaling_keeps_the_stroke():
    """A stroke in the 8x8 grid stays where it was after upscaling (no shifted or flipped image)."""
    grid = np.zeros((8, 8))
    grid[:, 2] = 16.0
    big = np.asarray(to_rgb(grid, 32))[..., 0]
    assert big.shape == (32, 32)
    assert int(np.argmax(big.mean(axis=0))) in (9, 10)      # column 2 of 8 -> pixels 8..11 of 32
    assert big[:, 9:11].min() > 200 and big[:, :6].max() == 0 and big[:, 14:].max() == 0


def test_digits_same_bytes_every_run(tmp_path, monkeypatch):
    first = tree(run_in(tmp_path / "a", monkeypatch))
    second = tree(run_in(tmp_path / "b", monkeypatch))
    assert len(first) == 1798 and first == second


def test_digits_rerun_replaces_in_place_seed_and_fraction(tmp_path, monkeypatch):
    raw = run_in(tmp_path, monkeypatch, split_seed=1, image_size=8)
    test_a = {p.name for p in raw.glob("Test/*/*.png")}
    run_in(tmp_path, monkeypatch, split_seed=2, image_size=8)
    test_b = {p.name for p in raw.glob("Test/*/*.png")}
    assert len(test_a) == len(test_b) == 90 and test_a != test_b
    run_in(tmp_path, monkeypatch, split_seed=2, image_size=8, test_fraction=0.1)
    assert len(list(raw.glob("Test/*/*.png"))) == 180 and len(list(raw.glob("Train/*/*.png"))) == 1617
    with Image.open(next(raw.glob("Train/0/*.png"))) as img:
        assert img.size == (8, 8)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]   # no temp leftovers
