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


# --- issue 14: transparency, one-colour images, leftovers, workers that outlive the stage ----

def test_transparent_icons_reach_the_cache_composited_and_blank_ones_are_reported(tmp_path):
    from test_cleaning import write_icon
    from PIL import Image

    clean = tmp_path / "clean"
    for cls in ("edit", "go", "view"):
        for i in range(8):
            write_icon(clean / cls / f"{cls}-{i}-symbolic.png", seed=seed_of(cls, i))
    Image.new("RGBA", (24, 24), (0, 0, 0, 0)).save(clean / "go" / "blank.png")
    lines: list[str] = []
    report = run_split(clean, tmp_path / "split", tmp_path / "split.json", DATA, lines.append)
    for name in SPLITS:
        cached, _ = splitcache.load_split(tmp_path / "split", name)
        flat = [images.is_constant(row) for row in cached]
        assert sum(flat) <= 1 and cached.max() == 255, name   # was: every row all zeros
    assert report["background"] == "white"
    assert report["constant_images"]["count"] == 1
    assert report["constant_images"]["images"][0]["path"].endswith("go/blank.png")
    assert any(line.startswith("warning: 1 of 25 images decode to a single colour") for line in lines)
    black = run_split(clean, tmp_path / "black", tmp_path / "black.json", DATA | {"background": "black"},
                      lambda m: None)
    assert black["constant_images"]["count"] == 25


def test_leftovers_of_a_killed_split_are_removed(tmp_path):
    clean = make_clean(tmp_path / "clean", {"a": 6, "b": 6})
    (tmp_path / ".split.x1y2.tmp" / "cache").mkdir(parents=True)
    (tmp_path / ".split.x1y2.tmp" / "cache" / "train_images.npy").write_bytes(b"0" * 1000)
    (tmp_path / ".split.old").mkdir()
    lines: list[str] = []
    run_split(clean, tmp_path / "split", tmp_path / "split.json", DATA, lines.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean", "split", "split.json"]
    assert lines[0] == "removed 2 leftover(s) of an interrupted split: .split.old, .split.x1y2.tmp"


SLOW_WORKER = """
import os, sys, time
from dlcompare.data import images

def slow(jobs):
    for job in jobs:
        with open(job, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(60)
    return jobs

if __name__ == "__main__":
    images.PARALLEL_MIN_FILES = 1
    images.map_chunks(slow, [os.path.join(sys.argv[1], f"job{i}") for i in range(64)], workers=2)
"""


def test_decoding_workers_die_with_their_parent(tmp_path):
    """kill -9 of split left its workers writing into data/.split.*.tmp."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "slowmod.py").write_text(SLOW_WORKER)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    parent = subprocess.Popen([sys.executable, str(tmp_path / "slowmod.py"), str(jobs)], env=env)
    try:
        deadline = time.monotonic() + 120
        while len({p.read_text() for p in jobs.iterdir() if p.read_text()}) < 2:
            assert time.monotonic() < deadline and parent.poll() is None, "workers never started"
            time.sleep(0.1)
        workers = {int(p.read_text()) for p in jobs.iterdir() if p.read_text()}
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()

    def alive(pid):   # a zombie nobody reaps (PID 1 of a container may not) counts as dead
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)   # only the workers this test started
    assert not left, f"workers {left} outlived their parent"
