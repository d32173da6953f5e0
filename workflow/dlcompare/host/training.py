"""`dlcompare train`: one (library, arch, seed) run, published atomically with its metrics.

The trainer writes into a staging directory next to the run directory; the core checks the
artifacts, adds metrics.json, then swaps the whole directory into place. A run directory is
therefore either absent, a previous finished run, or this finished run: never half-written.
The checkpoint directory lives outside the run directory, survives failed and killed attempts
(the trainer resumes from it) and is removed after success.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np

from dlcompare.host import contract, devices, evaluate, gpus
from dlcompare import glossary
from dlcompare.data import splitcache
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry, load_registry


def library_params(params: dict, library: str) -> dict:
    """The library's own top-level section (named after it; may be empty)."""
    return dict(params.get(library) or {})


def _validate_plugin_params(trainer: contract.Trainer, section: dict) -> None:
    if trainer.params_schema is None:
        return
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft7Validator(trainer.params_schema).iter_errors(section))
    if error is not None:
        where = ".".join([trainer.name, *map(str, error.absolute_path)])
        raise UserError(f"invalid parameter {where}: {error.message}")


def seed_everything(seed: int) -> None:
    """Python's and numpy's global generators; each trainer seeds its own library."""
    random.seed(seed)
    np.random.seed(seed)


def staging_dir(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


def publish(staging: Path, final: Path) -> None:
    """Swap the finished staging directory into place (two renames, no copying)."""
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def train(params: dict, library: str, arch: str, seed: int, log=print,
          registry: Registry | None = None) -> Path:
    """Train one run into results/runs/<library>/<arch>/seed<seed>/ and return that path."""
    trainer = (registry or load_registry()).get(library)
    if arch not in trainer.architectures:
        raise UserError(f"library {library!r} has no architecture {arch!r} "
                        f"(it supports: {', '.join(trainer.architectures)})")
    section = library_params(params, library)
    _validate_plugin_params(trainer, section)
    tp = params["train"]
    requested = tp.get("device", "auto")
    gpus.claim(requested, log=log)   # several GPUs and no CUDA_VISIBLE_DEVICES: take a free one
    device = devices.resolve(requested, 0 if requested == "cpu" else trainer.gpu_count())

    split_dir = Path(glossary.SPLIT_DIR)
    classes = splitcache.load_classes(split_dir)
    final = Path(glossary.run_dir(glossary.RESULTS_DIR, library, arch, seed))
    staging = staging_dir(final)
    shutil.rmtree(staging, ignore_errors=True)   # left by a killed attempt
    staging.mkdir(parents=True)
    checkpoint_dir = Path(glossary.checkpoint_dir(library, arch, seed))
    checkpoint_dir.mkdir(parents=True, exist_ok=True)

    run = contract.Run(
        library=library, arch=arch, seed=int(seed), device=device,
        pretrained=tp.get("pretrained", "none"), image_size=params["data"]["image_size"],
        batch_size=tp.get("batch_size", 32), threads=tp.get("threads", 2), classes=classes,
        split_dir=split_dir, out_dir=staging, checkpoint_dir=checkpoint_dir,
        params=section, all_params=params, log=log)
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
