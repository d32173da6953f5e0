"""Run the conformance suite: two tiny CPU runs of one plugin, then one check per contract rule.

How row order is checked: the second run's project is the first one with the validation and
test rows (images, labels and manifest lines together) permuted; the training split is the same.
With the same seed the training is the same, so the second run's probability row i must equal
the first run's row perm[i]. A plugin that reorders rows (sorting by class, a shuffled loader)
fails this; a plugin whose training is not reproducible fails the `reproducible` check first.

How resuming is checked: a third project, the first one again, is trained with the process
stopped (``os._exit``, as a kill) right after its first checkpointed epoch, then trained again;
the resumed run must end with the history and metrics of the uninterrupted first run.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from dlcompare.host import contract, evaluate
from dlcompare import glossary, params as params_mod, testing
from dlcompare.data import splitcache
from dlcompare.glossary import EVAL_SPLITS, HISTORY, METRICS, PHASES, PROBS, RUN_INFO
from dlcompare.host.plugins import load_registry
from dlcompare.host.entries import library_params
from dlcompare.kit import ledger as ledger_mod

SEED = 0
IMAGE_SIZE = 32
N_CLASSES = 3
SIZES = (48, 18, 12)        # train, valid, test images (train divides by the batch size)
BATCH_SIZE = 16
PERMUTATION_SEED = 1234
ROW_TOLERANCE = 1e-4        # same image, same seed: probabilities agree to this
LOSS_RTOL = 1e-6            # same seed: training losses agree to this (relative)
TIMEOUT_S = 3600
ENV_PLUGIN = "DLCOMPARE_CHECK_PLUGIN"   # for `pytest --pyargs dlcompare.conformance`
ENV_ARCH = "DLCOMPARE_CHECK_ARCH"
ENV_PARAMS = "DLCOMPARE_CHECK_PARAMS"

Launch = Callable[..., None]   # (project, library, arch, seed, env=None)


class Failure(Exception):
    """One conformance rule is broken (the message says which and how)."""


@dataclasses.dataclass
class Trial:
    """The two finished runs the checks look at."""

    library: str
    arch: str
    trainer: contract.Trainer
    projects: tuple[Path, ...]        # first run; second with valid/test rows permuted; resumed
    perms: dict[str, np.ndarray]      # second project's row i is the first project's row perms[split][i]
    epochs: dict[str, int] | None     # epochs per phase set in the params section, if any

    def run_dir(self, k: int) -> Path:
        return self.projects[k] / glossary.run_dir(glossary.RESULTS_DIR, self.library, self.arch, SEED)

    def probs(self, k: int, split: str) -> np.ndarray:
        return np.load(self.run_dir(k) / PROBS[split]).astype(np.float64)

    def history(self, k: int) -> list[dict]:
        with open(self.run_dir(k) / HISTORY, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def read_json(self, k: int, name: str) -> dict:
        return json.loads((self.run_dir(k) / name).read_text(encoding="utf-8"))


# -- setting up the two runs -------------------------------------------------------------------

def default_arch(trainer: contract.Trainer) -> str:
    """The small architecture when the plugin has it, else its first one."""
    archs = tuple(trainer.architectures)
    return glossary.SMALL_ARCH if glossary.SMALL_ARCH in archs else archs[0]


def tiny_section(trainer: contract.Trainer, params: dict | None) -> tuple[dict, dict[str, int] | None]:
    """The plugin's params section (its defaults filled in) with every phase cut to one epoch
    (when it names phases)."""
    section = trainer.resolve_params(copy.deepcopy(library_params(params or {}, trainer.name)))
    phases = [p for p in PHASES if isinstance(section.get(p), dict)]
    for phase in phases:
        section[phase]["epochs"] = 1
    return section, ({p: 1 for p in PHASES} if len(phases) == len(PHASES) else None)


def load_params(*paths: str) -> dict | None:
    """The parameters whose plugin section the tiny runs use: ./params.yaml when there is one,
    with ``paths`` merged over it (a file may hold only the plugin's section); None when there
    is neither (the plugin's own defaults). Only the plugin's section is used, and its own schema
    checks it, whatever ``train.libraries`` says."""
    files = [params_mod.DEFAULT_PARAMS] * Path(params_mod.DEFAULT_PARAMS).is_file() + [p for p in paths if p]
    params: dict = {}
    for path in files:
        params = params_mod.deep_merge(params, params_mod.read_yaml(path))
    return params or None


def project_params(library: str, arch: str, section: dict) -> dict:
    out = {"data": {"dataset": "digits", "image_size": IMAGE_SIZE},
           "train": {"libraries": [library], "archs": [arch], "seeds": [SEED], "device": "cpu",
                     "pretrained": "none", "batch_size": BATCH_SIZE, "threads": 1}}
    out[library] = section
    return params_mod.validate(out)


def permute_eval_rows(root: Path) -> dict[str, np.ndarray]:
    """Permute the valid and test rows of ``root``'s split (cache and manifest alike)."""
    split_dir = root / glossary.SPLIT_DIR
    rng = np.random.default_rng(PERMUTATION_SEED)
    with open(split_dir / glossary.MANIFEST, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    perms = {}
    for split in EVAL_SPLITS:
        images, labels = splitcache.load_split(split_dir, split)
        perm = rng.permutation(len(labels))
        if np.array_equal(perm, np.arange(len(perm))):
            perm = perm[::-1].copy()
        splitcache.save_split(split_dir, split, np.array(images[perm]), labels[perm])
        mine = [r for r in rows if r["split"] == split]
        rows = [r for r in rows if r["split"] != split] + [mine[i] for i in perm]
        perms[split] = perm
    with open(split_dir / glossary.MANIFEST, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=glossary.MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return perms


def train_subprocess(project: Path, library: str, arch: str, seed: int, env: dict | None = None,
                     expect: int = 0) -> None:
    """`dlcompare train` in its own process (TensorFlow keeps its memory for the process's life)."""
    cmd = [sys.executable, "-m", "dlcompare.cli", "train", "--entry", library,
           "--arch", arch, "--seed", str(seed)]
    with open(project / "train.log", "a", encoding="utf-8") as log:
        done = subprocess.run(cmd, cwd=project, stdout=log, stderr=subprocess.STDOUT,
                              timeout=TIMEOUT_S, env={**os.environ, **(env or {})})
    if done.returncode != expect:
        if expect:
            raise Failure(f"the run to be interrupted exited with {done.returncode}, not "
                          f"{expect}: it never checkpointed an epoch through dlcompare.Ledger "
                          f"(record each epoch with ledger.record), so resuming cannot be checked")
        tail = (project / "train.log").read_text(encoding="utf-8", errors="replace")
        tail = "\n".join(tail.strip().splitlines()[-15:])
        raise Failure(f"`dlcompare train` exited with {done.returncode} in {project}:\n{tail}")


def prepare(library: str, arch: str | None, workdir: Path, params: dict | None = None,
            launch: Launch = train_subprocess, registry=None, log=print) -> Trial:
    """Build both tiny projects under ``workdir`` and train them; Failure if a run fails."""
    trainer = (registry or load_registry()).get(library)
    arch = arch or default_arch(trainer)
    if arch not in trainer.architectures:
        raise Failure(f"{library} has no architecture {arch!r} "
                      f"(it supports: {', '.join(trainer.architectures)})")
    section, epochs = tiny_section(trainer, params)
    config = project_params(library, arch, section)
    projects = (Path(workdir) / "first", Path(workdir) / "second", Path(workdir) / "resumed")
    perms: dict[str, np.ndarray] = {}
    for k, project in enumerate(projects):
        testing.make_split(project, n_classes=N_CLASSES, sizes=SIZES, image_size=IMAGE_SIZE)
        if k == 1:
            perms = permute_eval_rows(project)
        (project / params_mod.DEFAULT_PARAMS).write_text(yaml.safe_dump(config), encoding="utf-8")
    steps = [(projects[0], "seed 0", {}), (projects[1], "validation and test rows permuted", {}),
             (projects[2], "seed 0, stopped after its first epoch", {ledger_mod.ENV_STOP_AFTER: "1"}),
             (projects[2], "seed 0, resumed", {})]
    for k, (project, what, env) in enumerate(steps):
        log(f"  training run {k + 1}/{len(steps)} ({what}) ...")
        start = time.perf_counter()
        if env:
            launch(project, library, arch, SEED, env=env, expect=ledger_mod.STOP_EXIT_CODE)
        else:
            launch(project, library, arch, SEED)
        log(f"  run {k + 1}/{len(steps)} done in {time.perf_counter() - start:.1f} s")
    return Trial(library, arch, trainer, projects, perms, epochs)


# -- the checks: each returns a one-line summary or raises Failure -----------------------------

def check_artifacts(trial: Trial) -> str:
    for k in range(len(trial.projects)):
        run_dir = trial.run_dir(k)
        missing = [n for n in glossary.RUN_ARTIFACTS if not (run_dir / n).is_file()]
        if missing:
            raise Failure(f"run {k + 1}: {', '.join(missing)} missing in {run_dir}")
        split_dir = trial.projects[k] / glossary.SPLIT_DIR
        try:
            contract.check_artifacts(run_dir, split_dir, N_CLASSES,
                                     expect={"library": trial.library, "arch": trial.arch,
                                             "seed": SEED})
        except contract.ArtifactError as exc:
            raise Failure(f"run {k + 1}: {exc}") from None
        for split in EVAL_SPLITS:
            dtype = np.load(run_dir / PROBS[split]).dtype
            if dtype != np.float32:
                raise Failure(f"{PROBS[split]} is {dtype}, expected float32")
    return f"{', '.join(glossary.RUN_ARTIFACTS)} present and well-formed"


def check_history(trial: Trial) -> str:
    rows = trial.history(0)
    counts = {p: sum(r["phase"] == p for r in rows) for p in PHASES}
    absent = [p for p in PHASES if counts[p] == 0]
    if absent:
        raise Failure(f"{HISTORY} has no {' or '.join(absent)} rows (both phases must train)")
    if trial.epochs and counts != trial.epochs:
        raise Failure(f"{HISTORY} has {counts} epochs per phase, the params asked for {trial.epochs}")
    return ", ".join(f"{p}: {n} epoch(s)" for p, n in counts.items())


def check_run_info(trial: Trial) -> str:
    info = trial.read_json(0, RUN_INFO)
    if info["device"] != "cpu":
        raise Failure(f"{RUN_INFO}: device is {info['device']!r} but train.device was cpu")
    expected = str(trial.trainer.library_version())
    if info["library_version"] != expected:
        raise Failure(f"{RUN_INFO}: library_version {info['library_version']!r}, "
                      f"the plugin reports {expected!r}")
    for phase in PHASES:
        if not info["phase_seconds"][phase] > 0:
            raise Failure(f"{RUN_INFO}: phase_seconds.{phase} is {info['phase_seconds'][phase]}")
    for kind in ("train", "inference"):
        if not info["images_per_second"][kind] > 0:
            raise Failure(f"{RUN_INFO}: images_per_second.{kind} is {info['images_per_second'][kind]}")
    return (f"{trial.library} {expected}, {info['param_count']:,} parameters, "
            f"{info['images_per_second']['train']:.0f} train images/s")


def check_metrics(trial: Trial) -> str:
    for k in range(2):
        recomputed = evaluate.evaluate_run(trial.run_dir(k), trial.projects[k] / glossary.SPLIT_DIR)
        if json.loads(json.dumps(recomputed)) != trial.read_json(k, METRICS):
            raise Failure(f"run {k + 1}: {METRICS} differs from the probabilities it was computed from")
    return "metrics.json matches the saved probabilities"


def check_no_stray_files(trial: Trial) -> str:
    """A run writes only its run directory (and its checkpoint dir, removed after success)."""
    for k, project in enumerate(trial.projects):
        allowed = {project / glossary.SPLIT_DIR, project / params_mod.DEFAULT_PARAMS,
                   project / "train.log", trial.run_dir(k)}
        stray = [p for p in sorted(project.rglob("*"))
                 if p.is_file() and not any(p == a or a in p.parents for a in allowed)]
        if stray:
            listed = ", ".join(str(p.relative_to(project)) for p in stray[:5])
            raise Failure(f"run {k + 1} left files outside its run directory: {listed} "
                          f"(write into run.out_dir, checkpoints into run.checkpoint_dir)")
    return "nothing written outside the run directory; checkpoints removed"


def _train_losses(trial: Trial) -> tuple[list[float], list[float]]:
    return tuple([float(r["train_loss"]) for r in trial.history(k)] for k in range(2))


def _same_training(trial: Trial) -> bool:
    first, second = _train_losses(trial)
    return len(first) == len(second) and np.allclose(first, second, rtol=LOSS_RTOL, atol=0)


def check_reproducible(trial: Trial) -> str:
    """Same seed on CPU: the same training losses, and the same metrics."""
    if not _same_training(trial):
        first, second = _train_losses(trial)
        raise Failure(f"two runs with seed {SEED} on CPU trained differently: train_loss "
                      f"{first} vs {second} (seed every generator from run.seed and use "
                      f"deterministic CPU kernels)")
    a, b = trial.read_json(0, METRICS), trial.read_json(1, METRICS)
    for split in EVAL_SPLITS:
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "recall", "confusion_matrix"):
            if a[split][key] != b[split][key]:
                raise Failure(f"two runs with seed {SEED} trained alike but differ in {split} "
                              f"{key}: {a[split][key]} vs {b[split][key]} (probability rows "
                              f"out of manifest order? see row_order)")
        if not np.isclose(a[split]["loss"], b[split]["loss"], rtol=1e-5, atol=0):
            raise Failure(f"two runs with seed {SEED} trained alike but differ in {split} loss: "
                          f"{a[split]['loss']} vs {b[split]['loss']} (see row_order)")
    return f"seed {SEED} twice: identical training losses and metrics"


def check_row_order(trial: Trial) -> str:
    """The second run's row i is the image in the first run's row perm[i]."""
    if not _same_training(trial):
        raise Failure("cannot be checked: two runs with the same seed trained differently "
                      "(see reproducible)")
    for split in EVAL_SPLITS:
        perm = trial.perms[split]
        first, second = trial.probs(0, split), trial.probs(1, split)
        if np.abs(first - first[perm]).max() <= ROW_TOLERANCE:
            raise Failure(f"{PROBS[split]}: every image gets the same probabilities, "
                          f"so row order cannot be checked (is the model's output used?)")
        error = np.abs(second - first[perm]).max(axis=1)
        if error.max() <= ROW_TOLERANCE:
            continue
        if np.abs(second - first).max() <= ROW_TOLERANCE:
            raise Failure(f"{PROBS[split]}: rows came back in the same order after the manifest "
                          f"rows were permuted: they must follow manifest order, not a fixed one "
                          f"(sorted by class or file name?)")
        bad = int(np.argmax(error))
        raise Failure(f"{PROBS[split]}: row {bad} does not hold the image in manifest row {bad} "
                      f"(off by {error[bad]:.3g}; rows must follow manifest order: a shuffled "
                      f"or reordered loader?)")
    return "probability rows follow the manifest order"


HISTORY_VALUES = ("epoch", "phase", "train_loss", "valid_loss", "valid_accuracy")


def check_resume(trial: Trial) -> str:
    """Stopped after its first epoch and trained again, a run ends as the uninterrupted one."""
    info = trial.read_json(2, RUN_INFO)
    if not info.get("resumed_after"):
        raise Failure(f"the interrupted run did not resume: its {RUN_INFO} has no resumed_after "
                      f"(it started over from epoch 1)")
    first, resumed = trial.history(0), trial.history(2)
    for a, b in zip(first, resumed, strict=False):
        for key in HISTORY_VALUES:
            same = a[key] == b[key] if key in ("epoch", "phase") else np.isclose(
                float(a[key]), float(b[key]), rtol=LOSS_RTOL, atol=0)
            if not same:
                raise Failure(f"resumed run's {HISTORY} differs from the uninterrupted run at "
                              f"{a['phase']} epoch {a['epoch']} {key}: {a[key]} vs {b[key]} (save and "
                              f"restore every RNG and optimizer state in the checkpoint)")
    if len(first) != len(resumed):
        raise Failure(f"resumed run has {len(resumed)} history rows, the uninterrupted one {len(first)}")
    a, b = trial.read_json(0, METRICS), trial.read_json(2, METRICS)
    for split in EVAL_SPLITS:
        if a[split]["confusion_matrix"] != b[split]["confusion_matrix"] or not np.isclose(
                a[split]["loss"], b[split]["loss"], rtol=1e-5, atol=0):
            raise Failure(f"resumed run's {split} metrics differ from the uninterrupted run's: "
                          f"loss {a[split]['loss']} vs {b[split]['loss']}")
    done = info["resumed_after"]
    return (f"stopped after {done['phase']} epoch {done['epoch']}, resumed: same history and "
            f"metrics as the uninterrupted run")


CHECKS: dict[str, Callable[[Trial], str]] = {
    "artifacts": check_artifacts,
    "history": check_history,
    "run_info": check_run_info,
    "metrics": check_metrics,
    "no_stray_files": check_no_stray_files,
    "row_order": check_row_order,
    "reproducible": check_reproducible,
    "resume": check_resume,
}


def run_checks(trial: Trial, log=print) -> list[str]:
    """Run every check, log one line each; return the names of the failed ones."""
    failed = []
    for name, check in CHECKS.items():
        try:
            log(f"ok    {name:15} {check(trial)}")
        except Failure as exc:
            failed.append(name)
            log(f"FAIL  {name:15} {exc}")
    return failed


def check_plugin(library: str, arch: str | None = None, log=print, params: dict | None = None,
                 launch: Launch = train_subprocess, registry=None, workdir: Path | None = None) -> int:
    """`dlcompare check-plugin`: 0 when the plugin passes every check, 1 otherwise.

    ``params``: the project's parameters, whose section for ``library`` (phases cut to one
    epoch) the tiny runs use; without them the plugin's own defaults apply. ``workdir``: where
    the two tiny projects go (default: a new temporary folder, removed when all checks pass).
    """
    registry = registry or load_registry()
    registry.get(library)   # a UserError now if the plugin is missing or failed to load
    workdir = Path(workdir or tempfile.mkdtemp(prefix=f"dlcompare-check-{library}-"))
    log(f"dlcompare check-plugin {library} ({registry.distributions.get(library, 'unknown')}), "
        f"{len(CHECKS)} checks, work dir {workdir}")
    try:
        trial = prepare(library, arch, workdir, params, launch, registry, log)
    except Failure as exc:
        log(f"FAIL  {'trains':15} {exc}")
        log(f"{library}: does not conform (work dir kept: {workdir})")
        return 1
    failed = run_checks(trial, log)
    if failed:
        log(f"{library}/{trial.arch}: {len(failed)} of {len(CHECKS)} checks failed: "
            f"{', '.join(failed)} (work dir kept: {workdir})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"{library}/{trial.arch}: conforms ({len(CHECKS)} checks passed)")
    return 0
