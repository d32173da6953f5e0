"""Acceptance: the thesis's cleaning and splitting (section 4.2.1) on a stand-in with the Kaggle
ISIC release's exact shape: 2,357 -> 2,047 after de-duplication -> 1,992 in 7 classes ->
1,515 / 378 / 99."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dlcompare import cli
from dlcompare.testing.isic import EXPECTED, TEST_COUNTS, TRAIN_COUNTS, make_isic_raw

REPO = Path(__file__).resolve().parent.parent
THESIS = ["--params", str(REPO / "params.yaml"), "--set", "data.min_images_per_class=60",
          "--set", "data.valid_fraction=0.2", "--set", "data.stratify=false", "--set", "data.image_size=8"]


def test_thesis_cleaning_and_split_counts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_isic_raw("data/raw")
    (Path("data/raw") / "SOURCE.json").write_text("{}")

    assert cli.main(["clean", *THESIS]) == 0
    report = json.loads(Path("results/cleaning.json").read_text(encoding="utf-8"))
    totals = report["totals"]
    assert totals["before"] == EXPECTED["before"] == sum(TRAIN_COUNTS.values()) + sum(TEST_COUNTS.values())
    assert totals["duplicates_removed"] == totals["cross_class_duplicates"] == EXPECTED["duplicates_removed"]
    assert totals["after"] == EXPECTED["after_deduplication"] == 2047
    assert totals["kept"] == EXPECTED["after"] == 1992
    assert totals["classes_after"] == EXPECTED["classes_after"] == 7
    assert {d["class"]: d["images"] for d in report["dropped_classes"]} == EXPECTED["dropped"]
    assert report["skipped"] == []
    for cls in TRAIN_COUNTS:  # Figure 4.1's "before" bars are the release's own counts
        assert report["classes"][cls]["splits"]["Train"]["before"] == TRAIN_COUNTS[cls]
        assert report["classes"][cls]["splits"]["Test"]["before"] == TEST_COUNTS[cls]
    assert report["splits"]["Test"]["kept"] == 99
    assert sum(1 for p in Path("data/clean").rglob("*") if p.is_file()) == 1992
    log = capsys.readouterr().out
    assert "dropped class 'actinic keratosis': 53 images" in log
    assert "dropped class 'seborrheic keratosis': 2 images" in log

    assert cli.main(["split", *THESIS]) == 0
    split = json.loads(Path("results/split.json").read_text(encoding="utf-8"))
    assert split["counts"] == EXPECTED["split"] | {"total": 1992}
    assert split["fractions"] == {"train": 0.7605, "valid": 0.1898, "test": 0.0497}  # 76.05/18.98/4.97 %
    assert len(split["classes"]) == 7
    with open("data/split/manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1992 and len({r["sha256"] for r in rows}) == 1992
    assert "train 1515 (76.05 %), valid 378 (18.98 %), test 99 (4.97 %)" in capsys.readouterr().out
