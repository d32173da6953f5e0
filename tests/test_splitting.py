"""`dlcompare split`: the seeded validation draw, the manifest, the decoded cache, split.json."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dlcompare import cli
from dlcompare.data import images, splitcache
from dlcompare.errors import UserError
from dlcompare.glossary import MANIFEST_COLUMNS, SPLITS
from dlcompare.data.splitting import run_split
from test_cleaning import REPO, seed_of, write_image

DATA = {"image_size": 16, "valid_fraction": 0.2, "test_fraction": 0.1, "split_seed": 42, "stratify": False}


def make_clean(root: Path, sizes: dict[str, int], test: int = 2, flat: bool = False) -> Path:
    for cls, n in sizes.items():
        for i in range(n):
            write_image(root / ("" if flat else "Train") / cls / f"{i:03d}.png", seed=seed_of(cls, i))
        for i in range(0 if flat else test):
            write_image(root / "Test" / cls / f"t{i}.jpg", seed=seed_of(cls, "t", i), fmt="JPEG")
    return root


def do_split(tmp_path: Path, clean: Path, name: str = "split", **data) -> tuple[dict, list[dict]]:
    report = run_split(clean, tmp_path / name, tmp_path / f"{name}.json", DATA | data, lambda m: None)
    with open(tmp_path / name / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return report, rows


def test_valid_is_floor_of_fraction_seeded_and_manifest_matches_cache(tmp_path):
    clean = make_clean(tmp_path / "clean", {"b class": 23, "a class": 19})
    report, rows = do_split(tmp_path, clean)
    assert report["counts"] == {"train": 34, "valid": 8, "test": 4, "total": 46}  # floor(0.2 * 42) = 8
    assert report["classes"] == ["a class", "b class"]
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [r["split"] for r in rows] == sorted((r["split"] for r in rows), key=SPLITS.index)
    for split in SPLITS:
        paths = [r["path"] for r in rows if r["split"] == split]
        assert paths == sorted(paths)
    assert all(r["path"].startswith(clean.as_posix() + "/") for r in rows)
    assert {r["path"].split("/")[-3] for r in rows if r["split"] == "test"} == {"Test"}
    assert json.loads((tmp_path / "split" / "classes.json").read_text(encoding="utf-8")) == report["classes"]
    for split in SPLITS:
        x, y = splitcache.load_split(tmp_path / "split", split)
        members = [r for r in rows if r["split"] == split]
        assert x.shape == (len(members), 16, 16, 3) and x.dtype == np.uint8
        assert [report["classes"][k] for k in y] == [r["label"] for r in members]
        for k in range(len(members)):
            data = Path(members[k]["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == members[k]["sha256"]
            assert np.array_equal(x[k], images.load_rgb(data, 16))
    per_class = report["per_class"]
    assert sum(c["valid"] for c in per_class.values()) == 8 and per_class["a class"]["test"] == 2

    again, rows_again = do_split(tmp_path, clean, name="again")
    assert rows_again == rows and again == report
    _, other_seed = do_split(tmp_path, clean, name="other", split_seed=7)
    assert {r["path"] for r in other_seed if r["split"] == "valid"} != \
        {r["path"] for r in rows if r["split"] == "valid"}


def test_stratified_validation_keeps_class_proportions(tmp_path):
    clean = make_clean(tmp_path / "clean", {"a": 40, "b": 10})
    report, _ = do_split(tmp_path, clean, stratify=True)
    assert report["per_class"]["a"]["valid"] == 8 and report["per_class"]["b"]["valid"] == 2


def test_flat_layout_carves_test_then_valid(tmp_path):
    clean = make_clean(tmp_path / "clean", {"a": 30, "b": 20}, flat=True)
    report, rows = do_split(tmp_path, clean)
    assert report["counts"] == {"train": 36, "valid": 9, "test": 5, "total": 50}  # 5 = 0.1*50, 9 = 0.2*45
    assert report["test"].startswith("carved")
    assert len({r["path"] for r in rows}) == 50


def test_impossible_fraction_is_a_user_error(tmp_path):
    clean = make_clean(tmp_path / "clean", {"a": 2, "b": 2})
    with pytest.raises(UserError, match="data.valid_fraction: 0.2 of 4 images is 0 images"):
        do_split(tmp_path, clean)
    assert not (tmp_path / "split").exists()


def test_split_stage_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_clean(Path("data/clean"), {"x": 10, "y": 10})
    assert cli.main(["split", "--params", str(REPO / "params.yaml"), "--set", "data.image_size=8"]) == 0
    assert "train 16" in capsys.readouterr().out
    x, _ = splitcache.load_split("data/split", "train")
    assert x.shape == (16, 8, 8, 3)
    report = json.loads(Path("results/split.json").read_text(encoding="utf-8"))
    assert report["counts"] == {"train": 16, "valid": 4, "test": 4, "total": 24}


def test_stratified_draw_gives_each_class_its_share_rounding_by_largest_remainder():
    from dlcompare.data.splitting import draw
    labels = ["a"] * 7 + ["b"] * 7 + ["c"] * 6   # 5 of 20: shares 1.75, 1.75, 1.5 -> 2, 2, 1
    picked = draw(labels, 5, seed=3, stratify=True)
    assert sorted(labels[i] for i in picked) == ["a", "a", "b", "b", "c"]
    assert list(picked) == sorted(set(picked.tolist()))
    assert np.array_equal(picked, draw(labels, 5, seed=3, stratify=True))     # seeded
    draws = {tuple(draw(labels, 5, seed=s, stratify=True)) for s in range(10)}
    assert len(draws) > 5                                                    # and random
    ties = ["a"] * 5 + ["b"] * 5                                             # 3 of 10: 1.5 and 1.5
    counts = {tuple(sorted(ties[i] for i in draw(ties, 3, seed=s, stratify=True))) for s in range(20)}
    assert counts == {("a", "a", "b"), ("a", "b", "b")}                      # a tie goes either way
    plain = draw(labels, 5, seed=3, stratify=False)
    assert len(plain) == len(set(plain.tolist())) == 5 and max(plain) < 20


def test_split_before_clean_names_the_missing_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["split", "--params", str(REPO / "params.yaml")]) == 2
    assert capsys.readouterr().err.strip() == \
        "dlcompare split: error: data/clean not found: run `dlcompare clean` first"


def test_worker_processes_write_the_same_cache_as_one_process(tmp_path, monkeypatch):
    """Rows decoded by several processes land at the right offsets: byte-identical outputs."""
    clean = make_clean(tmp_path / "clean", {"a": 30, "b": 25}, test=3)
    monkeypatch.setattr(images, "PARALLEL_MIN_FILES", 1)   # parallel even for these few files
    monkeypatch.setattr(images, "PARALLEL_MIN_BYTES", 1)
    one = run_split(clean, tmp_path / "one", tmp_path / "one.json", DATA, lambda m: None, workers=1)
    two = run_split(clean, tmp_path / "two", tmp_path / "two.json", DATA, lambda m: None, workers=2)
    assert one == two
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 8   # manifest, classes, 3 x (images, labels)
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
