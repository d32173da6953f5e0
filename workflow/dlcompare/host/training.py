"""`dlcompare train`: one (entry, arch, seed) run, published atomically with its metrics.

The trainer writes into a staging directory next to the run directory; the core checks the
artifacts, adds metrics.json, then swaps the whole directory into place. A run directory is
therefore either absent, a previous finished run, or this finished run: never half-written.
The checkpoint directory lives outside the run directory, survives failed and killed attempts
(the trainer resumes from it) and is removed after success; ``fresh`` discards it first. A lock
file beside it (``fcntl.flock``, released when the process dies, however it dies) keeps a second
`dlcompare train` of the same run from starting beside the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shutil
import socket
from pathlib import Path

import numpy as np

from dlcompare.host import contract, devices, evaluate, gpus, machine, provenance
from dlcompare import atomic, glossary
from dlcompare.data import splitcache
from dlcompare.errors import UserError
from dlcompare.host import entries
from dlcompare.host.entries import lookup, plugin_version, resolved_params
from dlcompare.host.plugins import Registry, load_registry


def core_fields(run: contract.Run, registry: Registry) -> dict:
    """What the core adds to every run.json (the one place for run.json keys the core owns)."""
    return {"entry": run.entry, "variant": run.variant, "params": run.params,
            "plugin_version": plugin_version(registry, run.library),
            "host": machine.describe(run.device, run.threads),
            "precision": run.precision, "workers": run.workers, "autotune": run.autotune}


def add_core_fields(out_dir: Path, fields: dict) -> None:
    """Merge ``fields`` into the run.json the trainer wrote (and the contract check accepted)."""
    path = Path(out_dir) / glossary.RUN_INFO
    atomic.write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **fields})


@contextlib.contextmanager
def run_lock(checkpoint_dir: Path, prefix: str):
    """Hold ``<checkpoint_dir>.lock`` for the run; UserError naming the holder when it is taken."""
    path = Path(f"{checkpoint_dir}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise UserError(f"run {prefix} is already being trained by {holder} (lock {path}); "
                            f"wait for it or stop that process") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"PID {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        yield
        path.unlink(missing_ok=True)   # while still holding it: a newcomer makes a new file
    finally:
        fh.close()


def seed_everything(seed: int) -> None:
    """Python's and numpy's global generators; each trainer seeds its own library."""
    random.seed(seed)
    np.random.seed(seed)


def staging_dir(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


def remove_path(path: Path) -> None:
    """Remove ``path`` whatever it is (folder, file, dangling link); absent is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def publish(staging: Path, final: Path) -> None:
    """Swap the finished staging directory into place (two renames, no copying)."""
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def train(params: dict, entry: str, arch: str, seed: int, log=print,
          registry: Registry | None = None, fresh: bool = False) -> Path:
    """Train one run into results/runs/<entry>/<arch>/seed<seed>/ and return that path.

    ``entry``: a library's base recipe (its name) or a variant. ``fresh``: discard the run's
    checkpoint and start from epoch 1.
    """
    registry = registry or load_registry()
    spec = lookup(params, entry)
    trainer = entries.trainer(params, entry, registry)
    if arch not in trainer.architectures:
        raise UserError(f"library {spec.library!r} has no architecture {arch!r} "
                        f"(it supports: {', '.join(trainer.architectures)})")
    section = resolved_params(params, entry, registry)
    checkpoint_dir = Path(glossary.checkpoint_dir(entry, arch, seed))
    with run_lock(checkpoint_dir, f"{entry}/{arch}/seed{seed}"):
        if fresh:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        return _train(params, trainer, registry, spec.variant, section, arch, int(seed),
                      checkpoint_dir, log)


def _train(params: dict, trainer: contract.Trainer, registry: Registry, variant: str | None,
           section: dict, arch: str, seed: int, checkpoint_dir: Path, log) -> Path:
    library = trainer.name
    entry = variant or library
    tp = params["train"]
    requested = tp.get("device", "auto")
    gpus.claim(requested, log=log)   # several GPUs and no CUDA_VISIBLE_DEVICES: take a free one
    device = devices.resolve(requested, 0 if requested == "cpu" else trainer.gpu_count())

    split_dir = Path(glossary.SPLIT_DIR)
    classes = splitcache.load_classes(split_dir)
    trained_on = provenance.trained_on(params, section, split_dir)   # before: the split may change meanwhile
    final = Path(glossary.run_dir(glossary.RESULTS_DIR, entry, arch, seed))
    staging = staging_dir(final)
    remove_path(staging)   # left by a killed attempt (a folder, or anything else in the way)
    staging.mkdir(parents=True)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)

    run = contract.Run(
        library=library, arch=arch, seed=int(seed), device=device,
        pretrained=tp.get("pretrained", "none"), image_size=params["data"]["image_size"],
        batch_size=tp.get("batch_size", 32), threads=tp.get("threads", 2), classes=classes,
        split_dir=split_dir, out_dir=staging, checkpoint_dir=checkpoint_dir,
        params=section, all_params=params, log=log, variant=variant,
        precision=tp.get("precision", "fp32"), workers=tp.get("workers", 0),
        autotune=tp.get("autotune", False), checkpoint_every=tp.get("checkpoint_every", 60))
    seed_everything(int(seed))
    log(f"{run.prefix}: training on {devices.describe(device)} ({len(classes)} classes)"
        f"{devices.scheduler_note()}")
    try:
        trainer.train(run)
        try:
            contract.check_artifacts(staging, split_dir, len(classes),
                                     expect={"library": library, "arch": arch, "seed": int(seed)})
        except contract.ArtifactError as exc:
            raise UserError(f"plugin {library!r} broke the run contract: {exc}") from None
        add_core_fields(staging, {**core_fields(run, registry), provenance.KEY: trained_on})
        result = evaluate.write_metrics(staging, split_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)   # the checkpoint stays for the next attempt
        raise
    publish(staging, final)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log(f"{run.prefix}: valid accuracy {result['valid']['accuracy']:.4f} "
        f"loss {result['valid']['loss']:.4f}; test accuracy {result['test']['accuracy']:.4f} "
        f"-> {final}")
    return final
