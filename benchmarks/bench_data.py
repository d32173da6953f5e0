"""Time the data stages (download -> clean -> split) on the ISIC-shaped stand-in and on digits,
and what the decoded split cache saves per training epoch.

    python benchmarks/bench_data.py                     # ISIC stand-in: 2,357 JPEGs of 256 px
    python benchmarks/bench_data.py --native 1024       # photographs closer to the real release
    python benchmarks/bench_data.py --skip-digits --size 128

- download: the stand-in (dlcompare.testing.isic, nested in a folder as in the Kaggle zip) is
  zipped and served by a loopback HTTP server; `dlcompare.data.download` fetches it with data.url +
  data.sha256, verifies, extracts safely and moves it into data/raw.
- clean / split: the real stage functions, on the thesis's parameters (min 60 images per class,
  20 % validation, 256 px as configs/thesis.yaml); split is also timed with a single decoding
  process, for comparison.
- clean + split, CLI processes: both stages again as `dlcompare clean` / `dlcompare split`
  subprocesses, i.e. with interpreter start and imports, as Snakemake and DVC run them.
- epoch: one pass over the training split in shuffled batches of 32, delivering uint8 batches,
  either from the cache (a gather from the memory-mapped array) or by reading and decoding every
  file, as a loader without the cache would do each epoch.
Target: clean + split of the 2,357 ISIC images under 10 s on the 2-core build machine.
Everything runs in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from dlcompare.data import images, splitcache
from dlcompare import params as params_mod
from dlcompare.data.cleaning import clean
from dlcompare.data.download import download
from dlcompare.glossary import CLEAN_DIR, RESULTS_DIR, SPLIT_DIR
from dlcompare.data.splitting import SPLIT_REPORT, run_split, split
from dlcompare.testing.isic import make_isic_raw

REPO = Path(__file__).resolve().parent.parent
KAGGLE_FOLDER = "Skin cancer ISIC The International Skin Imaging Collaboration"


@contextlib.contextmanager
def serve(folder: Path):
    """A loopback HTTP server for ``folder``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def count_files(folder: str | Path) -> int:
    return sum(1 for p in Path(folder).rglob("*") if p.is_file() and p.name != "SOURCE.json")


def epoch_times(size: int, batch: int = 32, seed: int = 0) -> tuple[int, float, float]:
    """(train images, seconds per epoch from the cache, seconds per epoch decoding files)."""
    import csv

    with open(Path(SPLIT_DIR) / "manifest.csv", newline="", encoding="utf-8") as fh:
        paths = [row["path"] for row in csv.DictReader(fh) if row["split"] == "train"]
    order = np.random.default_rng(seed).permutation(len(paths))
    batches = [np.sort(order[i:i + batch]) for i in range(0, len(order), batch)]

    def from_cache():
        x, _ = splitcache.load_split(SPLIT_DIR, "train")
        return sum(int(np.ascontiguousarray(x[idx]).shape[0]) for idx in batches)

    def from_files():
        return sum(np.stack([images.load_rgb(Path(paths[i]).read_bytes(), size) for i in idx]).shape[0]
                   for idx in batches)

    cache_s, n = timed(from_cache)
    files_s, n2 = timed(from_files)
    assert n == n2 == len(paths)
    x, _ = splitcache.load_split(SPLIT_DIR, "train")   # both ways deliver the same pixels
    for i in batches[0]:
        assert np.array_equal(x[i], images.load_rgb(Path(paths[i]).read_bytes(), size)), paths[i]
    return len(paths), cache_s, files_s


def cli_stage(stage: str, overrides: list[str]) -> None:
    """One stage as a user runs it: `dlcompare <stage>` in a fresh process (imports included)."""
    exe = Path(sys.executable).with_name("dlcompare")
    sets = [arg for item in overrides for arg in ("--set", item)]
    subprocess.run([str(exe), stage, "--params", str(REPO / "params.yaml"), *sets], check=True,
                   stdout=subprocess.DEVNULL)


def run_dataset(name: str, overrides: list[str], log) -> tuple[list, tuple]:
    params = params_mod.load([str(REPO / "params.yaml")], overrides)
    rows = []
    seconds, _ = timed(download, params, log)
    rows.append((name, "download", count_files("data/raw"), seconds))
    seconds, report = timed(clean, params, log)
    rows.append((name, "clean", report["totals"]["before"], seconds))
    seconds, report = timed(split, params, log)
    rows.append((name, "split", report["counts"]["total"], seconds))
    seconds, _ = timed(run_split, Path(CLEAN_DIR), Path(tempfile.mkdtemp(dir="data")) / "s",
                       Path(RESULTS_DIR) / f"1-{SPLIT_REPORT}", params["data"], lambda m: None, 1)
    rows.append((name, "split, 1 decoding process", report["counts"]["total"], seconds))
    cli_seconds = sum(timed(cli_stage, stage, overrides)[0] for stage in ("clean", "split"))
    rows.append((name, "clean + split, CLI processes", report["counts"]["total"], cli_seconds))
    epoch = (name, params["data"]["image_size"], *epoch_times(params["data"]["image_size"]))
    return rows, epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="data.image_size for the ISIC stand-in")
    parser.add_argument("--native", type=int, default=256, help="pixel size of the generated JPEGs")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="show the stages' own output")
    args = parser.parse_args()
    log = print if args.verbose else (lambda msg: None)
    stage_rows, epoch_rows = [], []
    home = os.getcwd()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_data.") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        make_isic_raw(tmp / "serve" / "src" / KAGGLE_FOLDER, image_size=args.native, fmt="jpg")
        archive = Path(shutil.make_archive(str(tmp / "serve" / "isic"), "zip", tmp / "serve" / "src"))
        shutil.rmtree(tmp / "serve" / "src")
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        print(f"ISIC stand-in: 2,357 JPEGs of {args.native} px, zip {archive.stat().st_size / 1e6:.1f} MB, "
              f"generated in {time.perf_counter() - start:.1f} s")
        try:
            with serve(archive.parent) as base:
                (tmp / "isic").mkdir()
                os.chdir(tmp / "isic")
                rows, epoch = run_dataset(
                    "isic", ["data.dataset=isic", f"data.url={base}/{archive.name}", f"data.sha256={sha}",
                             f"data.image_size={args.size}", "data.min_images_per_class=60",
                             "data.valid_fraction=0.2", "data.stratify=false"], log)
                stage_rows += rows
                epoch_rows.append(epoch)
            if not args.skip_digits:
                (tmp / "digits").mkdir()
                os.chdir(tmp / "digits")
                rows, epoch = run_dataset("digits", ["data.dataset=digits", "data.image_size=32"], log)
                stage_rows += rows
                epoch_rows.append(epoch)
        finally:
            os.chdir(home)
    print_tables(stage_rows, epoch_rows)
    # The build machine is shared: other jobs' load inflates these times; say how busy it was.
    print("load average (1 min) before / after: {:.1f} / {:.1f} on {} cores".format(
        load_before[0], os.getloadavg()[0], len(os.sched_getaffinity(0))))


def print_tables(stage_rows, epoch_rows) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(color_system=None, width=110)
    table = Table(title=f"Data stages ({os.cpu_count()} CPU cores)", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("dataset", "stage", "images", "seconds", "images/s"):
        table.add_column(col, justify="left" if col in ("dataset", "stage") else "right")
    for name, stage, n, s in stage_rows:
        table.add_row(name, stage, f"{n:,}", f"{s:.2f}", f"{n / s:,.0f}")
    for name in dict.fromkeys(r[0] for r in stage_rows):
        s = sum(r[3] for r in stage_rows if r[0] == name and r[1] in ("clean", "split"))
        table.add_row(name, "clean + split (in-process)", "", f"{s:.2f}", "", style="bold")
    console.print(table)
    table = Table(title="One training epoch of data delivery (shuffled batches of 32, uint8)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("dataset", "px", "train images", "decode files (s)", "npy cache (s)", "saved/epoch (s)",
                "speed-up"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for name, px, n, cache_s, files_s in epoch_rows:
        table.add_row(name, str(px), f"{n:,}", f"{files_s:.2f}", f"{cache_s:.3f}", f"{files_s - cache_s:.2f}",
                      f"{files_s / cache_s:,.0f}x")
    console.print(table)


if __name__ == "__main__":
    main()
