"""`dlcompare split`: data/clean -> data/split (manifest.csv, classes.json, decoded cache) and
results/split.json (counts per split and per class, for the memoir's Figure 4.1).

- The dataset's own Test folder is kept as the test split. A flat dataset (``<class>/...``) has
  ``data.test_fraction`` carved as test first, the same way as validation.
- Validation is ``floor(data.valid_fraction x training images)`` of the training images, drawn
  with numpy's ``default_rng(data.split_seed)``, stratified by class only when ``data.stratify``
  (the thesis: not stratified). Rounding down is what fastai's ``RandomSplitter`` (used by the
  thesis) does: 20 % of 1,893 gives 378, as published. Stratified: each class gives
  ``floor(share)`` images and the rounding remainder goes to the largest fractional shares (ties
  at random), as scikit-learn's ``StratifiedShuffleSplit`` allocates. numpy rather than
  scikit-learn: importing ``sklearn.model_selection`` alone took 3.3 s on the busy 2-core build
  machine, a third of the 10 s budget for clean + split of the ISIC release.
- Candidates enter the split in sorted path order, so the draw depends only on the files and
  the seed. Manifest rows: train, valid, test, each sorted by path; the cache follows that order.
- Manifest ``path`` is relative to the project root (e.g. ``data/clean/Train/nevus/x.jpg``),
  ``sha256`` is the digest of the file's bytes (the key cleaning de-duplicated on).
- Every image is decoded and resized once (see ``dlcompare.data.images``) into the uint8 cache of
  ``dlcompare.data.splitcache``, so training never decodes a file: the benchmark
  (benchmarks/bench_data.py) measures what that saves per epoch. Worker processes write each
  decoded row straight into the .npy file, so memory stays flat however large the dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from dlcompare import atomic
from dlcompare.data import images, splitcache
from dlcompare.data.cleaning import FLAT, Item, scan
from dlcompare.errors import UserError
from dlcompare.glossary import CLEAN_DIR, MANIFEST, MANIFEST_COLUMNS, RESULTS_DIR, SPLIT_DIR, SPLITS

SPLIT_REPORT = "split.json"


def draw(labels: list[str], n: int, seed: int, stratify: bool) -> np.ndarray:
    """Sorted positions of ``n`` items drawn at random (seeded) from items with these ``labels``."""
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.permutation(len(labels))[:n])
    _, y = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    counts = np.bincount(y)
    take, remainder = np.divmod(counts * n, len(labels))   # each class's share of n, exactly
    order = np.lexsort((rng.random(len(counts)), -remainder))  # largest remainder first, ties at random
    take[order[: n - int(take.sum())]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in enumerate(take)]
    return np.sort(np.concatenate(picked))


def carve(items: list[Item], fraction: float, seed: int, stratify: bool, what: str):
    """(rest, carved): ``floor(fraction x len(items))`` items drawn at random, reproducibly."""
    items = sorted(items, key=lambda item: item.rel)
    n = int(fraction * len(items))
    if n < 1 or n >= len(items):
        raise UserError(f"{what}: {fraction} of {len(items)} images is {n} images; "
                        "need at least 1 on each side (more images or another fraction)")
    chosen = set(draw([item.label for item in items], n, seed, stratify).tolist())
    return ([item for i, item in enumerate(items) if i not in chosen],
            [item for i, item in enumerate(items) if i in chosen])


def _decode_rows(jobs: list[tuple[str, int, int, str, int, tuple]]) -> list[tuple[str, bool]]:
    """Decode each (npy, data offset, row, file, size, background) job into row ``row`` of the
    .npy file; returns (sha256, one colour only) per file. Runs in worker processes, each writing
    its own rows with pwrite (cheaper than faulting in the pages of a fresh memory map)."""
    out = []
    with open(jobs[0][0], "r+b") as fh:
        for _, offset, row, path, size, background in jobs:
            data = Path(path).read_bytes()
            try:
                pixels = images.load_rgb(data, size, background)
            except images.Unreadable as exc:
                raise UserError(f"{path}: {exc} (run `dlcompare clean` again)") from None
            os.pwrite(fh.fileno(), pixels.data, offset + row * pixels.nbytes)
            out.append((hashlib.sha256(data).hexdigest(), images.is_constant(pixels)))
    return out


def _cache(split_dir: Path, name: str, files: list[Path], labels: np.ndarray, size: int,
           background: tuple, workers: int | None) -> list[tuple[str, bool]]:
    """Write the split's cache (images decoded straight into the .npy file); returns
    (sha256, one colour only) per file."""
    images_npy, labels_npy = splitcache.cache_paths(split_dir, name)
    images_npy.parent.mkdir(parents=True, exist_ok=True)
    if not files:
        raise UserError(f"the {name} split is empty")
    array = np.lib.format.open_memmap(images_npy, mode="w+", dtype=np.uint8,
                                      shape=(len(files), size, size, 3))
    offset = array.offset  # header written, file sized; workers fill the rows
    del array
    jobs = [(str(images_npy), offset, row, str(path), size, background) for row, path in enumerate(files)]
    decoded = images.map_chunks(_decode_rows, jobs, workers, nbytes=images.total_size(files))
    np.save(labels_npy, labels.astype(np.int64))
    return decoded


def run_split(clean_dir: Path, split_dir: Path, report_path: Path, data: dict, log,
              workers: int | None = None) -> dict:
    """Split ``clean_dir`` into ``split_dir`` (atomically) and write the report; returns it."""
    started = time.perf_counter()
    clean_dir, split_dir = Path(clean_dir), Path(split_dir)
    leftovers = atomic.remove_leftovers(split_dir)
    if leftovers:
        log(f"removed {len(leftovers)} leftover(s) of an interrupted split: {', '.join(leftovers)}")
    layout, items, ignored = scan(clean_dir, missing_hint="run `dlcompare clean` first")
    if not items:
        raise UserError(f"no images under {clean_dir}: run `dlcompare clean` first")
    if ignored:
        log(f"note: {len(ignored)} non-image files under {clean_dir} left out "
            f"(e.g. {ignored[0]['path']}: {ignored[0]['reason']})")
    classes = sorted({item.label for item in items})
    seed, stratify = data["split_seed"], data["stratify"]
    if layout == FLAT:
        pool, test = carve(items, data["test_fraction"], seed, stratify, "data.test_fraction")
    else:
        pool = [item for item in items if item.part == "Train"]
        test = [item for item in items if item.part == "Test"]
        if not pool:
            raise UserError(f"{clean_dir}/Train has no images")
    train, valid = carve(pool, data["valid_fraction"], seed, stratify, "data.valid_fraction")
    chosen = {"train": train, "valid": valid, "test": test}

    size = data["image_size"]
    background = images.background_rgb(data.get("background", images.DEFAULT_BACKGROUND))
    index = {name: i for i, name in enumerate(classes)}
    rows, constant = [], []
    # results/split.json's temporary file first: an unwritable results/ fails before data/split
    # is replaced, and the two are swapped in together.
    with atomic.atomic_path(report_path) as report_tmp:
        with atomic.atomic_dir(split_dir) as tmp:
            for name in SPLITS:
                members = sorted(chosen[name], key=lambda item: item.rel)
                labels = np.array([index[item.label] for item in members], dtype=np.int64)
                decoded = _cache(tmp, name, [clean_dir / item.rel for item in members], labels, size,
                                 background, workers)
                rows += [{"path": (clean_dir / item.rel).as_posix(), "label": item.label, "split": name,
                          "sha256": sha} for item, (sha, _) in zip(members, decoded)]
                constant += [{"path": (clean_dir / item.rel).as_posix(), "label": item.label, "split": name}
                             for item, (_, flat) in zip(members, decoded) if flat]
            splitcache.save_classes(tmp, classes)
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            atomic.write_text(tmp / MANIFEST, buf.getvalue())
            counts = {name: len(chosen[name]) for name in SPLITS}
            total = sum(counts.values())
            per_class = {label: {name: Counter(item.label for item in chosen[name])[label] for name in SPLITS}
                         for label in classes}
            report = {
                "source": clean_dir.as_posix(), "image_size": size, "valid_fraction": data["valid_fraction"],
                "split_seed": seed, "stratify": stratify,
                "test": f"carved: data.test_fraction={data['test_fraction']}" if layout == FLAT
                else "the dataset's own Test folder",
                "classes": classes, "counts": counts | {"total": total},
                "fractions": {name: round(n / total, 4) for name, n in counts.items()},
                "per_class": per_class, "background": data.get("background", images.DEFAULT_BACKGROUND),
                "constant_images": {"count": len(constant),
                                    "per_class": dict(Counter(entry["label"] for entry in constant)),
                                    "images": constant},
            }
        report_tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if constant:
        log(f"warning: {len(constant)} of {total} images decode to a single colour at {size}x{size} px "
            f"(nothing to learn; listed in {report_path} under constant_images), e.g. {constant[0]['path']}")
    log(f"split {total} images in {len(classes)} classes: "
        + ", ".join(f"{name} {n} ({100 * n / total:.2f} %)" for name, n in counts.items())
        + f"; decoded to {size}x{size} px in {time.perf_counter() - started:.1f} s; "
          f"wrote {split_dir} and {report_path}")
    return report


def split(params: dict, log) -> dict:
    """The `dlcompare split` stage: data/clean -> data/split and results/split.json."""
    return run_split(Path(CLEAN_DIR), Path(SPLIT_DIR), Path(RESULTS_DIR) / SPLIT_REPORT,
                     params["data"], log)
