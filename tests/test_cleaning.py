"""`dlcompare clean`: duplicates, unreadable files, odd image modes and names, small classes."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcompare import atomic, cli
from dlcompare.data import images
from dlcompare import params as params_mod
from dlcompare.data.cleaning import clean, run_clean
from dlcompare.errors import UserError

REPO = Path(__file__).resolve().parent.parent


def load_params(*overrides: str) -> dict:
    return params_mod.load([str(REPO / "params.yaml")], list(overrides))


def seed_of(*parts) -> int:
    """A deterministic seed (``hash()`` of strings changes between processes)."""
    return zlib.crc32(repr(parts).encode())


def write_image(path: Path, seed: int, mode: str = "RGB", size: int = 8, fmt: str | None = None) -> Path:
    """A small unique image (content derived from ``seed``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (size, size), dtype=np.uint16))
    elif mode == "P":
        im = rgb.quantize(16)
    else:
        im = rgb.convert(mode)
    im.save(path, format=fmt)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` pixels in a few dozen bytes (a decompression bomb)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def run(raw: Path, tmp_path: Path, min_images: int = 1) -> dict:
    lines: list[str] = []
    report = run_clean(raw, tmp_path / "clean", tmp_path / "cleaning.json", min_images, lines.append)
    assert json.loads((tmp_path / "cleaning.json").read_text(encoding="utf-8")) == report
    report["_log"] = "\n".join(lines)
    return report


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_duplicates_across_classes_remove_every_copy_within_a_class_keep_one(tmp_path):
    raw = tmp_path / "raw"
    for i in range(3):
        for cls in ("a", "b", "c"):
            write_image(raw / "Train" / cls / f"{cls}{i}.png", seed=seed_of(cls, i))
    shared = write_image(raw / "Train" / "a" / "shared.png", seed=90_001)
    (raw / "Train" / "b" / "shared copy.png").write_bytes(shared.read_bytes())
    triple = write_image(raw / "Train" / "a" / "t1.png", seed=90_002)
    (raw / "Train" / "a" / "t2.png").write_bytes(triple.read_bytes())
    (raw / "Train" / "b" / "t3.png").write_bytes(triple.read_bytes())
    twice = write_image(raw / "Train" / "c" / "z2.png", seed=90_003)
    (raw / "Train" / "c" / "z1.png").write_bytes(twice.read_bytes())
    both = write_image(raw / "Train" / "c" / "both.png", seed=90_004)
    write_image(raw / "Test" / "c" / "c9.png", seed=90_005)
    (raw / "Test" / "c" / "both.png").write_bytes(both.read_bytes())

    report = run(raw, tmp_path)
    cls = report["classes"]
    assert cls["a"] | {"splits": None} == {
        "before": 6, "unreadable": 0, "duplicates_removed": 3, "cross_class_duplicates": 3,
        "within_class_duplicates": 0, "after": 3, "kept": 3, "dropped": False, "ignored": 0,
        "splits": None, "constant": 0}
    assert (cls["b"]["cross_class_duplicates"], cls["b"]["after"]) == (2, 3)
    assert (cls["c"]["within_class_duplicates"], cls["c"]["after"]) == (2, 6)
    assert cls["c"]["splits"]["Train"]["within_class_duplicates"] == 2  # z2 and Train/c/both
    assert report["totals"]["duplicates_removed"] == 7
    kept = files_under(tmp_path / "clean")
    assert not any("shared" in p or p.split("/")[-1].startswith("t") for p in kept)
    assert "Train/c/z1.png" in kept and "Train/c/z2.png" not in kept  # first by path
    assert "Test/c/both.png" in kept and "Train/c/both.png" not in kept  # the Test copy stays
    groups = {tuple(g["paths"]): g["kept"] for g in report["duplicates"]}
    assert groups[("Test/c/both.png", "Train/c/both.png")] == "Test/c/both.png"
    assert groups[("Train/a/shared.png", "Train/b/shared copy.png")] is None


def test_unreadable_and_ignored_files_are_listed_with_reasons(tmp_path):
    raw = tmp_path / "raw"
    for i in range(4):
        write_image(raw / "Train" / "ok" / f"{i}.jpg", seed=i, fmt="JPEG")
        write_image(raw / "Train" / "other" / f"{i}.png", seed=100 + i)
    bad = raw / "Train" / "ok"
    (bad / "empty.jpg").write_bytes(b"")
    good = (bad / "0.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (bad / "text.jpg").write_text("not an image\n")
    (bad / "bomb.png").write_bytes(png_header_only(20_000, 20_000))     # Pillow's own error
    (bad / "bomb2.png").write_bytes(png_header_only(10_000, 10_000))    # over our limit only
    (bad / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (bad / "notes.txt").write_text("hello")
    (raw / "Train" / "stray.png").write_bytes(good)
    (raw / "SOURCE.json").write_text("{}")   # the download's metadata: not part of the dataset

    report = run(raw, tmp_path)
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons["Train/ok/empty.jpg"] == "empty file (0 bytes)"
    assert "truncated" in reasons["Train/ok/truncated.jpg"].lower()
    assert reasons["Train/ok/text.jpg"] == "not a recognised image format"
    assert reasons["Train/ok/bomb.png"].startswith("decompression bomb refused")
    assert reasons["Train/ok/bomb2.png"].startswith("decompression bomb refused")
    assert reasons["Train/ok/.DS_Store"] == "hidden file"
    assert "extension '.txt'" in reasons["Train/ok/notes.txt"]
    assert reasons["Train/stray.png"] == "not inside a class folder"
    assert "SOURCE.json" not in reasons
    ok = report["classes"]["ok"]
    assert (ok["before"], ok["unreadable"], ok["ignored"], ok["after"]) == (9, 5, 2, 4)
    # Nothing is lost silently: every file under a Train/Test folder is kept or listed.
    everything = files_under(raw) - {"SOURCE.json"}
    assert files_under(tmp_path / "clean") | set(reasons) == everything
    assert "skipped 8 files" in report["_log"]


def test_image_modes_extensions_and_names(tmp_path):
    raw = tmp_path / "raw"
    modes = [("L", "PNG", "gray.PNG"), ("P", "PNG", "palette.png"), ("RGBA", "PNG", "alpha.png"),
             ("CMYK", "JPEG", "cmyk.JPG"), ("LA", "PNG", "la.png"), ("I;16", "PNG", "deep.png"),
             ("RGB", "JPEG", "upper.JPEG"), ("RGB", "BMP", "bitmap.bmp")]
    for i, (mode, fmt, name) in enumerate(modes):
        write_image(raw / "Train" / "café au lait" / name, seed=i, mode=mode, fmt=fmt)
        write_image(raw / "Train" / "naïve nevus" / f"{i}.png", seed=50 + i)
    report = run(raw, tmp_path)
    assert report["skipped"] == []
    assert report["classes"]["café au lait"]["kept"] == len(modes)
    assert (tmp_path / "clean" / "Train" / "café au lait" / "cmyk.JPG").is_file()
    for _, _, name in modes:
        rgb = images.load_rgb((raw / "Train" / "café au lait" / name).read_bytes(), 16)
        assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    gray = images.load_rgb((raw / "Train" / "café au lait" / "gray.PNG").read_bytes(), 8)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert "café au lait" in report["_log"]


def test_small_classes_are_dropped_and_named(tmp_path):
    raw = tmp_path / "raw"
    for cls, n in (("big", 5), ("mid", 4), ("tiny", 3)):
        for i in range(n):
            write_image(raw / cls / f"{i}.png", seed=seed_of(cls, i))
    dup = write_image(raw / "mid" / "dup.png", seed=99_999)
    (raw / "tiny" / "dup.png").write_bytes(dup.read_bytes())
    report = run(raw, tmp_path, min_images=4)
    assert report["layout"] == "flat" and report["splits"] == {}
    assert report["dropped_classes"] == [{"class": "tiny", "images": 3,
                                          "reason": "fewer than 4 images after de-duplication"}]
    assert report["classes"]["tiny"] | {"splits": None} == {
        "before": 4, "unreadable": 0, "duplicates_removed": 1, "cross_class_duplicates": 1,
        "within_class_duplicates": 0, "after": 3, "kept": 0, "dropped": True, "ignored": 0, "splits": None,
        "constant": 0}
    assert report["totals"]["after"] == 12 and report["totals"]["kept"] == 9
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["big", "mid"]
    assert "dropped class 'tiny': 3 images" in report["_log"]
    with pytest.raises(UserError, match="only 1 class"):
        run(raw, tmp_path, min_images=5)


def test_clean_stage_links_files_and_replaces_previous_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for cls in ("x", "y"):
        for i in range(2):
            write_image(Path("data/raw/Train") / cls / f"{i}.png", seed=seed_of(cls, i))
    stale = Path("data/clean/Train/old/stale.png")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    assert cli.main(["clean", "--params", str(REPO / "params.yaml"), "--set", "data.min_images_per_class=2"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "total" in out  # a plain table, readable in a log file
    assert not stale.exists()
    assert Path("data/clean/Train/x/0.png").stat().st_ino == Path("data/raw/Train/x/0.png").stat().st_ino
    report = json.loads(Path("results/cleaning.json").read_text(encoding="utf-8"))
    assert report["totals"]["kept"] == 4 and report["splits"]["Train"]["kept"] == 4
    first = Path("results/cleaning.json").read_bytes()
    clean(load_params("data.min_images_per_class=2"), lambda msg: None)
    assert Path("results/cleaning.json").read_bytes() == first  # deterministic


def test_missing_raw_is_one_line_user_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["clean", "--params", str(REPO / "params.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "dlcompare clean: error: data/raw not found: run `dlcompare download` first"


def test_class_names_in_decomposed_unicode_are_one_class(tmp_path):
    """macOS writes "é" as "e" + combining accent (NFD); the same class typed elsewhere is NFC."""
    raw = tmp_path / "raw"
    nfd, nfc = "me\u0301lanome be\u0301nin", "m\u00e9lanome b\u00e9nin"
    for i in range(3):
        write_image(raw / "Train" / nfd / f"{i}.png", seed=seed_of("m", i))
        write_image(raw / "Train" / "naevus" / f"{i}.png", seed=seed_of("n", i))
    write_image(raw / "Test" / nfc / "t.png", seed=seed_of("m", "t"))
    report = run(raw, tmp_path, min_images=3)
    assert sorted(report["classes"]) == sorted(["naevus", nfc])
    assert report["classes"][nfc]["before"] == 4
    assert sorted(p.name for p in (tmp_path / "clean" / "Train").iterdir()) == sorted(["naevus", nfc])


def test_worker_processes_give_the_same_report(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    for cls in ("a", "b"):
        for i in range(12):
            write_image(raw / "Train" / cls / f"{i}.png", seed=seed_of(cls, i))
    (raw / "Train" / "b" / "copy.png").write_bytes((raw / "Train" / "a" / "0.png").read_bytes())
    (raw / "Train" / "a" / "empty.png").write_bytes(b"")
    monkeypatch.setattr(images, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(images, "PARALLEL_MIN_BYTES", 1)
    reports = [run_clean(raw, tmp_path / f"clean{w}", tmp_path / f"c{w}.json", 1, lambda m: None, workers=w)
               for w in (1, 2)]
    assert reports[0] == reports[1] and reports[0]["totals"]["cross_class_duplicates"] == 2
    assert files_under(tmp_path / "clean1") == files_under(tmp_path / "clean2")


# --- issue 14: transparent icons, one-colour images, names, symlinks, permissions -------------

def write_icon(path: Path, seed: int, size: int = 24, mode: str = "RGBA") -> Path:
    """A symbolic icon as in GNOME's Adwaita theme: a black glyph on transparent black (every
    pixel's colour is black; only the alpha channel draws the shape)."""
    rng = np.random.default_rng(seed)
    alpha = np.zeros((size, size), dtype=np.uint8)
    x0, y0 = rng.integers(2, size // 2, 2)
    alpha[y0:y0 + size // 3, x0:x0 + rng.integers(3, size // 2)] = 255
    alpha[rng.integers(0, size, 6), rng.integers(0, size, 6)] = 255
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    im = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        im = im.convert("LA")
    elif mode == "P":
        im = im.convert("P")          # palette with a transparent entry
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def test_transparent_icons_are_composited_not_turned_black(tmp_path):
    """Dropping alpha made 54 % of the Adwaita icons all-zero arrays under three labels."""
    icon = write_icon(tmp_path / "icon.png", seed=1).read_bytes()
    white = images.load_rgb(icon, 24)
    assert not images.is_constant(white)                        # was: all zeros
    assert white.max() == 255 and white.min() == 0               # the glyph on a white ground
    black = images.load_rgb(icon, 24, images.background_rgb("black"))
    assert images.is_constant(black) and black.max() == 0        # black on black: nothing left
    for mode in ("LA", "P"):
        other = write_icon(tmp_path / f"icon-{mode}.png", seed=1, mode=mode).read_bytes()
        assert not images.is_constant(images.load_rgb(other, 24)), mode


def test_one_colour_images_are_counted_and_listed(tmp_path):
    raw = tmp_path / "raw"
    for cls in ("edit", "go", "view"):
        for i in range(3):
            write_icon(raw / cls / f"{cls}-{i}-symbolic.png", seed=seed_of(cls, i))
    blank = Image.new("RGBA", (24, 24), (0, 0, 0, 0))
    blank.save(raw / "view" / "blank.png")                      # fully transparent: white only
    report = run(raw, tmp_path)
    assert report["constant_colour"] == ["view/blank.png"]
    assert report["classes"]["view"]["constant"] == 1 and report["totals"]["constant"] == 1
    assert "warning: 1 images decode to a single colour" in report["_log"]
    black = run_clean(raw, tmp_path / "clean2", tmp_path / "cleaning2.json", 1, lambda m: None,
                      background="black")
    assert black["totals"]["constant"] == 10                    # every icon vanishes on black


def test_file_name_not_utf8_is_skipped_with_its_reason(tmp_path):
    """It passed clean, then split crashed with UnicodeEncodeError without naming the file."""
    raw = tmp_path / "raw"
    for cls in ("a", "b"):
        for i in range(2):
            write_image(raw / cls / f"{i}.png", seed=seed_of(cls, i))
    bad = os.fsdecode(b"caf\xe9.png")                           # Latin-1 é
    write_image(raw / "a" / bad, seed=7)
    report = run(raw, tmp_path)
    assert report["skipped"] == [{"path": "a/caf\\xe9.png", "class": "a", "split": None,
                                  "reason": "file name is not valid UTF-8: rename it (e.g. convmv -f latin1 -t utf8)"}]
    assert report["classes"]["a"]["kept"] == 2


def test_clean_always_writes_its_report_even_when_it_refuses(tmp_path):
    """A class lost to dangling links: clean stopped without cleaning.json, so no reason shown."""
    raw = tmp_path / "raw"
    for i in range(3):
        write_image(raw / "kept" / f"{i}.png", seed=i)
    (raw / "lost").mkdir()
    for i in range(3):
        os.symlink(f"../../.git/annex/objects/{i}.png", raw / "lost" / f"{i}.png")
    with pytest.raises(UserError, match="only 1 class.*what was skipped and why: .*cleaning.json"):
        run_clean(raw, tmp_path / "clean", tmp_path / "cleaning.json", 1, lambda m: None)
    report = json.loads((tmp_path / "cleaning.json").read_text(encoding="utf-8"))
    assert "only 1 class" in report["error"] and not (tmp_path / "clean").exists()
    assert [e["reason"] for e in report["skipped"]] == [
        f"symbolic link to a missing file (../../.git/annex/objects/{i}.png)" for i in range(3)]


def test_read_only_results_changes_nothing_and_is_one_line(tmp_path, monkeypatch, capsys):
    """clean had replaced data/clean before failing to write cleaning.json (PermissionError)."""
    if os.geteuid() == 0:   # root ignores file modes: refuse as the kernel would for a user
        real = atomic.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if Path(dir).name == "results":
                raise PermissionError(13, "Permission denied", str(Path(dir) / kwargs.get("prefix", "")))
            return real(*args, dir=dir, **kwargs)
        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    monkeypatch.chdir(tmp_path)
    for cls in ("a", "b"):
        for i in range(2):
            write_image(tmp_path / "data" / "raw" / cls / f"{i}.png", seed=seed_of(cls, i))
    (tmp_path / "data" / "clean" / "old").mkdir(parents=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "results").chmod(0o555)
    try:
        code = cli.main(["clean", "--params", str(REPO / "params.yaml"), "--set", "data.min_images_per_class=1"])
    finally:
        (tmp_path / "results").chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("dlcompare clean: error: Permission denied: results/cleaning.json (make it")
    assert "chmod" in err
    assert [p.name for p in (tmp_path / "data" / "clean").iterdir()] == ["old"]   # untouched


def test_created_files_follow_the_umask(tmp_path):
    """tempfile's 0600/0700 survived the atomic rename and locked a sharing group out."""
    old = os.umask(0o002)
    try:
        atomic.write_json(tmp_path / "r.json", {})
        with atomic.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o775
