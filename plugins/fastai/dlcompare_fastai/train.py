"""One fastai run end to end: data, learner, the two phases (resuming from a checkpoint when one
exists), predictions in manifest order, interpretation, and the run artifacts."""

from __future__ import annotations

import contextlib
import platform
import time

import fastai
import numpy as np
import torch
import torchvision
from fastai.torch_core import set_seed

from dlcompare.kit import weights
from dlcompare.kit.torch_runtime import peak_memory_mb
from dlcompare.host.contract import Run
from dlcompare.glossary import PHASES

from . import checkpoint, data, interpret, recipe
from .callbacks import BatchBar, PhaseLog, new_observed


def fastai_lr_text(lr) -> str:
    return f"slice({lr[0]:.2e}, {lr[1]:.2e})" if isinstance(lr, (list, tuple)) else f"{lr:.2e}"


def versions(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    return {"fastai": fastai.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "cuda": torch.version.cuda if cuda else None,
            "device_name": torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine()),
            "python": platform.python_version()}


@contextlib.contextmanager
def torch_settings(device: torch.device, threads: int):
    """Threads and determinism for this run only (restored afterwards: tests share a process)."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


def recipe_summary(run: Run, cfg: dict) -> dict:
    """The configured recipe, for run.json (the memoir's Table 4.1 is built from what ran)."""
    augment = {**data.AUGMENT_DEFAULTS, **(cfg.get("augment") or {})}
    return {
        "torchvision_model": weights.torchvision_name(run.arch),
        "weights": weights.WEIGHTS_TAG if run.pretrained == "imagenet" else None,
        "normalisation": "imagenet" if run.pretrained == "imagenet" else None,
        "head": recipe.HEAD,
        "optimizer": "fastai Adam (decoupled weight decay, sqr_mom 0.99, eps 1e-5; no decay on BatchNorm and bias)",
        "moms": list(cfg["moms"]), "weight_decay": cfg["weight_decay"], "train_bn": True,
        "one_cycle": recipe.ONE_CYCLE,
        "phase1": cfg["phase1"], "phase2": cfg["phase2"],
        "augment": {**augment, "flip": "dihedral (8 symmetries)" if augment["flip_vert"] else "horizontal"},
        "batch_size": run.batch_size, "image_size": run.image_size,
        "use_lr_find": cfg["use_lr_find"], "lr_find_iterations": cfg["lr_find_iterations"],
        "precision": "float32",
    }


def train(run: Run) -> None:
    device = torch.device(run.device)
    with torch_settings(device, run.threads):
        _train(run, device)


def _train(run: Run, device: torch.device) -> None:
    cfg = recipe.settings(run.params)
    set_seed(run.seed, reproducible=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    dls, test_dl, source = data.dataloaders(run)
    learn = recipe.build_learner(run, dls, cfg)

    key = checkpoint.fingerprint(arch=run.arch, seed=run.seed, pretrained=run.pretrained, image_size=run.image_size,
                                 batch_size=run.batch_size, device=device.type, cfg=cfg, classes=run.classes,
                                 sizes={s: len(source.items(s)) for s in ("train", "valid")},
                                 fastai=fastai.__version__)
    state = checkpoint.load(run.checkpoint_dir, key, log=run.log)
    history, counters, lr_finds, observed, counts = [], {"train_images": 0, "train_seconds": 0.0}, {}, {}, {}
    done = (None, 0)
    if state is not None:
        history, counters, lr_finds, observed = state["history"], state["counters"], state["lr_find"], state["observed"]
        done = (state["phase"], state["epoch"])

    for phase in PHASES:
        epochs = int(cfg[phase]["epochs"])
        if phase == "phase2":
            learn.unfreeze()
        counts[phase] = recipe.parameter_counts(learn)
        start = 0
        if done[0] is not None and PHASES.index(phase) < PHASES.index(done[0]):
            continue       # finished before the restart; the later phase loads its weights
        if phase == done[0]:
            learn.load(state["model_file"], with_opt=True)
            checkpoint.set_rng_state(state["rng"], dls.train)
            start = done[1]
            run.log(f"{run.prefix}: resuming after {phase} epoch {start}")
        if start >= epochs:
            continue
        if start == 0 and cfg["lr_find_iterations"] > 0:
            lr_finds[phase] = recipe.lr_find(learn, int(cfg["lr_find_iterations"]))
            run.log(f"{run.prefix}: {phase} lr_find suggests " + ", ".join(
                f"{k} {v:.2e}" for k, v in lr_finds[phase]["suggestions"].items() if v is not None)
                + f" ({lr_finds[phase]['seconds']:.1f}s)")
        lr, lr_source = recipe.phase_lr(cfg, phase, lr_finds.get(phase))   # resumed: the saved finder's
        if lr_source != "params" and start == 0:
            run.log(f"{run.prefix}: {phase} trains at {fastai_lr_text(lr)} ({lr_source})")

        def on_epoch(row, smooth_loss, phase=phase, epochs=epochs):
            history.append(row)
            checkpoint.save(learn, run.checkpoint_dir, {
                "fingerprint": key, "phase": phase, "epoch": row["epoch"], "history": history,
                "counters": counters, "lr_find": lr_finds, "observed": observed, "smooth_loss": smooth_loss,
                "rng": checkpoint.rng_state(dls.train)})
            run.log_epoch(phase, row["epoch"], epochs, train_loss=row["train_loss"], valid_loss=row["valid_loss"],
                          valid_accuracy=row["valid_accuracy"], seconds=row["seconds"])

        log_cb = PhaseLog(phase, start, observed.setdefault(phase, new_observed()), counters, on_epoch)
        if start:
            log_cb.smooth_loss_state = state["smooth_loss"]
        recipe.fit_phase(learn, cfg, phase, lr, cbs=[log_cb, BatchBar(f"{run.prefix} {phase}")],
                         start_epoch=start)

    began = time.perf_counter()
    valid_probs, valid_targets, valid_losses = learn.get_preds(dl=dls.valid, with_loss=True)
    test_probs, test_targets = learn.get_preds(dl=test_dl)
    inference_seconds = time.perf_counter() - began
    for split, targets in (("valid", valid_targets), ("test", test_targets)):
        if not np.array_equal(targets.numpy(), source.arrays[split][1]):
            raise RuntimeError(f"fastai's {split} loader lost the manifest row order")
    run.save_probabilities("valid", valid_probs.numpy())
    run.save_probabilities("test", test_probs.numpy())
    run.save_history(history)
    n_eval = len(valid_targets) + len(test_targets)
    run.save_info({
        "library_version": fastai.__version__,
        "versions": versions(device),
        "param_count": sum(p.numel() for p in learn.model.parameters()),
        "phase_seconds": {p: sum(r["seconds"] for r in history if r["phase"] == p) for p in PHASES},
        "images_per_second": {
            "train": counters["train_images"] / counters["train_seconds"] if counters["train_seconds"] else None,
            "inference": n_eval / inference_seconds if inference_seconds else None},
        "peak_memory_mb": peak_memory_mb(device),
        "extras": {
            "recipe": recipe_summary(run, cfg),
            "parameter_counts": counts,
            "observed": observed,
            "lr_find": lr_finds or None,
            "learning_rates": {p: dict(zip(("lr", "source"), recipe.phase_lr(cfg, p, lr_finds.get(p))))
                               for p in PHASES},
            "interpretation": interpret.interpretation(learn, dls.valid, valid_probs, valid_targets, valid_losses,
                                                       source, run.split_dir),
            "deterministic": device.type == "cpu",
            "resumed_after": {"phase": done[0], "epoch": done[1]} if done[0] else None,
        },
    })
