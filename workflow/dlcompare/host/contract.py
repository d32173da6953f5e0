"""The run contract between the core and library plugins (the project's public API).

A plugin registers :class:`Trainer` objects. The core builds a :class:`Run` for one
(library, arch, seed), calls ``trainer.train(run)``, checks what the trainer wrote with
:func:`check_artifacts`, and computes every metric itself from the saved probabilities.
docs/writing-a-plugin.md spells the contract out for plugin authors.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from dlcompare import atomic, progress
from dlcompare.data import splitcache
from dlcompare.glossary import EVAL_SPLITS, HISTORY, HISTORY_COLUMNS, PHASES, PROBS, RUN_INFO

# Keys every run.json must carry (plugins may add more under "extras").
RUN_INFO_KEYS = ("library", "arch", "seed", "device", "library_version", "versions",
                 "param_count", "phase_seconds", "images_per_second", "peak_memory_mb")
SUM_TOLERANCE = 1e-3   # probability rows must sum to 1 within this


class Trainer:
    """Base class for a library's trainer. Subclasses set ``name`` and ``architectures``.

    Import heavy libraries (torch, tensorflow, fastai) only inside methods, so listing plugins
    stays fast and one broken library never hides the others.
    """

    name: str = ""
    architectures: tuple[str, ...] = ()
    # Optional JSON schema (draft 7, with defaults) of the library's params section (the top-level
    # key named after it); ship it as package data: ``params_schema = dlcompare.package_schema(__package__)``.
    params_schema: dict | None = None

    def resolve_params(self, section: dict | None) -> dict:
        """The section validated with ``params_schema`` and its defaults filled in (what runs)."""
        from dlcompare.params import resolve_section

        return resolve_section(self.params_schema, section, self.name)

    def library_version(self) -> str:
        """The version of the library this trainer drives (imports it, so it may raise)."""
        raise NotImplementedError(f"{type(self).__name__}.library_version")

    def gpu_count(self) -> int:
        """How many CUDA devices the library sees here (it honours CUDA_VISIBLE_DEVICES)."""
        return 0

    def train(self, run: "Run") -> None:
        """Train ``run.arch`` and write the artifacts into ``run.out_dir`` (use the save_* helpers)."""
        raise NotImplementedError(f"{type(self).__name__}.train")


@dataclasses.dataclass
class Run:
    """Everything a trainer needs for one (entry, arch, seed) run; ``library`` is the plugin's."""

    library: str
    arch: str
    seed: int
    device: str                 # "cpu" or "cuda:N" (N counts within CUDA_VISIBLE_DEVICES)
    pretrained: str             # "none" or "imagenet"
    image_size: int             # pixels; the cached images are already this size
    batch_size: int
    threads: int                # CPU threads the library may use
    classes: list[str]          # class names; label k is classes[k]
    split_dir: Path             # the decoded split cache (read it with load())
    out_dir: Path               # write artifacts here (a staging dir the core publishes atomically)
    checkpoint_dir: Path        # survives a failed or killed run: resume from here
    params: dict                # the library's own params section, defaults filled in
    all_params: dict = dataclasses.field(repr=False, default_factory=dict)
    log: Callable[[str], None] = print
    # Like-for-like settings shared by every library (train.precision, workers, autotune).
    precision: str = "fp32"     # "fp32" or "mixed" (the library's automatic mixed precision)
    workers: int = 0            # data-loader worker processes (0: load in the training process)
    autotune: bool = False      # let the library time kernels and keep the fastest (cuDNN benchmark)
    checkpoint_every: float = 60.0   # seconds between the Ledger's checkpoints (and each phase's end); 0: every epoch
    variant: str | None = None  # the variant this run trains (params ``variants:``); None: base recipe

    @property
    def entry(self) -> str:
        """What the run is filed under: the variant's name, else the library's."""
        return self.variant or self.library

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def prefix(self) -> str:
        return f"{self.entry}/{self.arch}/seed{self.seed}"

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 N x S x S x 3 RGB, labels int64 N) in manifest row order."""
        return splitcache.load_split(self.split_dir, split)

    def log_epoch(self, phase: str, epoch: int, epochs: int, **metrics: float) -> None:
        """One log line per epoch, e.g. ``torch/resnet18/seed0 phase1 epoch 1/2 train_loss ...``."""
        self.log(progress.epoch_line(self.prefix, phase, epoch, epochs, **metrics))

    def save_history(self, rows: list[dict]) -> None:
        """rows: dicts with HISTORY_COLUMNS, phase1 rows first, epoch counting from 1 per phase."""
        with atomic.atomic_path(self.out_dir / HISTORY) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

    def save_probabilities(self, split: str, probs: np.ndarray) -> None:
        """Softmax probabilities (N x n_classes, rows in manifest order) for ``valid`` or ``test``."""
        with atomic.atomic_path(self.out_dir / PROBS[split]) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(probs, dtype=np.float32))

    def save_info(self, info: dict) -> None:
        """run.json: ``info`` plus library, arch, seed and device filled in from the run."""
        base = {"library": self.library, "arch": self.arch, "seed": self.seed, "device": self.device}
        atomic.write_json(self.out_dir / RUN_INFO, {**base, **info})


class ArtifactError(Exception):
    """A trainer broke the run contract (named file missing, wrong shape, bad values)."""


def _number(value, what: str, minimum: float = 0.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ArtifactError(f"{what} is {value!r}, not a number") from None
    if not math.isfinite(x) or x < minimum:
        raise ArtifactError(f"{what} is {value!r}, expected a finite number >= {minimum:g}")
    return x


def check_history(path: Path) -> list[dict]:
    """history.csv: exact columns, known phases in order, epochs 1..n within each phase."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != HISTORY_COLUMNS:
            raise ArtifactError(f"{HISTORY} columns are {reader.fieldnames}, "
                                f"expected {list(HISTORY_COLUMNS)} in that order")
        rows = list(reader)
    last = {}
    for i, row in enumerate(rows, start=2):
        where = f"{HISTORY} line {i}"
        phase = row["phase"]
        if phase not in PHASES:
            raise ArtifactError(f"{where}: unknown phase {phase!r} (expected {', '.join(PHASES)})")
        if any(PHASES.index(p) > PHASES.index(phase) for p in last):
            raise ArtifactError(f"{where}: {phase} comes after a later phase")
        expected = last.get(phase, 0) + 1
        if _number(row["epoch"], f"{where}: epoch") != expected:
            raise ArtifactError(f"{where}: epoch {row['epoch']!r}, expected {expected} "
                                f"(epochs count from 1 within each phase)")
        last[phase] = expected
        for column in ("train_loss", "valid_loss", "seconds"):
            _number(row[column], f"{where}: {column}")
        if _number(row["valid_accuracy"], f"{where}: valid_accuracy") > 1:
            raise ArtifactError(f"{where}: valid_accuracy {row['valid_accuracy']} is above 1")
    return rows


def check_probabilities(path: Path, n_rows: int, n_classes: int) -> np.ndarray:
    """A float (n_rows, n_classes) array of non-negative rows summing to 1."""
    try:
        probs = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ArtifactError(f"{path.name} is not a plain .npy array: {exc}") from None
    if probs.dtype.kind != "f":
        raise ArtifactError(f"{path.name} has dtype {probs.dtype}, expected float32")
    if probs.shape != (n_rows, n_classes):
        raise ArtifactError(f"{path.name} has shape {probs.shape}, expected ({n_rows}, {n_classes}) "
                            f"= (images in the split, classes)")
    if not np.all(np.isfinite(probs)) or probs.min() < 0:
        raise ArtifactError(f"{path.name} has negative or non-finite values (save softmax "
                            f"probabilities, not logits)")
    worst = float(np.abs(probs.sum(axis=1, dtype=np.float64) - 1.0).max()) if n_rows else 0.0
    if worst > SUM_TOLERANCE:
        raise ArtifactError(f"{path.name}: rows do not sum to 1 (off by up to {worst:.3g}); "
                            f"save softmax probabilities, not logits")
    return probs


def check_run_info(path: Path, expect: dict | None = None) -> dict:
    """run.json: every RUN_INFO_KEYS entry, with the types docs/writing-a-plugin.md gives."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{RUN_INFO} is not valid JSON: {exc}") from None
    if not isinstance(info, dict):
        raise ArtifactError(f"{RUN_INFO} must hold a JSON object")
    missing = [k for k in RUN_INFO_KEYS if k not in info]
    if missing:
        raise ArtifactError(f"{RUN_INFO} lacks {', '.join(missing)}")
    for key, value in (expect or {}).items():
        if info[key] != value:
            raise ArtifactError(f"{RUN_INFO}: {key} is {info[key]!r}, expected {value!r}")
    if not isinstance(info["versions"], dict):
        raise ArtifactError(f"{RUN_INFO}: versions must be an object (name -> version)")
    if not isinstance(info["param_count"], int) or info["param_count"] < 1:
        raise ArtifactError(f"{RUN_INFO}: param_count must be a positive integer")
    for key, names in (("phase_seconds", PHASES), ("images_per_second", ("train", "inference"))):
        if not isinstance(info[key], dict) or set(info[key]) != set(names):
            raise ArtifactError(f"{RUN_INFO}: {key} must be an object with keys {', '.join(names)}")
        for name in names:
            _number(info[key][name], f"{RUN_INFO}: {key}.{name}")
    if info["peak_memory_mb"] is not None:
        _number(info["peak_memory_mb"], f"{RUN_INFO}: peak_memory_mb")
    return info


def check_artifacts(out_dir: str | Path, split_dir: str | Path, n_classes: int,
                    expect: dict | None = None) -> dict:
    """Check every artifact a trainer must write; return the parsed run.json.

    ``expect``: run.json values that must match, e.g. {"library": ..., "arch": ..., "seed": ...}.
    """
    out_dir = Path(out_dir)
    for name in (HISTORY, RUN_INFO, *PROBS.values()):
        if not (out_dir / name).is_file():
            raise ArtifactError(f"{name} was not written")
    check_history(out_dir / HISTORY)
    for split in EVAL_SPLITS:
        _, labels = splitcache.load_split(split_dir, split)
        check_probabilities(out_dir / PROBS[split], len(labels), n_classes)
    return check_run_info(out_dir / RUN_INFO, expect)
