"""One fastai run end to end: data, learner, the two phases (resuming from dlcompare's checkpoint
when there is one, through the Ledger in PhaseLog), predictions in manifest order, interpretation,
and the run artifacts."""

from __future__ import annotations


import fastai
import numpy as np
import torch
from fastai.learner import load_model
from fastai.torch_core import get_model, set_seed

from dlcompare import PHASES, Ledger, Run, timed
from dlcompare.kit import torch_runtime, weights

from . import data, interpret, model, recipe
from .callbacks import BatchBar, PhaseLog, new_observed


def fastai_lr_text(lr) -> str:
    return f"slice({lr[0]:.2e}, {lr[1]:.2e})" if isinstance(lr, (list, tuple)) else f"{lr:.2e}"


def rng_state(train_dl) -> dict:
    """torch's RNG (and CUDA's) and the training loader's shuffle RNG, as JSON."""
    state = {"loader": _lists(train_dl.rng.getstate()), "torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict, train_dl) -> None:
    train_dl.rng.setstate(_tuples(state["loader"]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _lists(state):
    return [_lists(s) for s in state] if isinstance(state, (tuple, list)) else state


def _tuples(state):
    return tuple(_tuples(s) for s in state) if isinstance(state, list) else state


def learner_state(learn) -> dict:
    """What ``fastai.learner.save_model(with_opt=True)`` writes (so ``load_model`` reads it back):
    the model's and the optimizer's state dicts."""
    return {"model": get_model(learn.model).state_dict(), "opt": learn.opt.state_dict()}


def precision_name(run: Run) -> str:
    amp = torch_runtime.amp_dtype(torch.device(run.device), getattr(run, "precision", "fp32"))
    return "float32" if amp is None else f"mixed {str(amp).replace('torch.', '')}"


def recipe_summary(run: Run, cfg: dict) -> dict:
    """The configured recipe, for run.json (the memoir's Table 4.1 is built from what ran)."""
    augment = cfg["augment"]
    return {
        "torchvision_model": weights.torchvision_name(run.arch),
        "weights": weights.WEIGHTS_TAG if run.pretrained == "imagenet" else None,
        "normalisation": "imagenet" if run.pretrained == "imagenet" else None,
        "head": model.HEAD,
        "optimizer": f"fastai Adam (decoupled weight decay, sqr_mom 0.99, eps {cfg['eps']:g}; "
                     + ("decay on BatchNorm and bias too)" if cfg["bn_wd"] else "no decay on BatchNorm and bias)"),
        "moms": list(cfg["moms"]), "weight_decay": cfg["weight_decay"], "train_bn": True,
        "one_cycle": recipe.one_cycle(cfg),
        "phase1": cfg["phase1"], "phase2": cfg["phase2"],
        "augment": {**augment, "flip": ("none" if not augment["do_flip"] else
                                       "dihedral (8 symmetries)" if augment["flip_vert"] else "horizontal")},
        "batch_size": run.batch_size, "image_size": run.image_size,
        "use_lr_find": cfg["use_lr_find"], "lr_find_iterations": cfg["lr_find_iterations"],
        "precision": precision_name(run),
    }


@torch_runtime.in_session
def train(run: Run, device: torch.device) -> None:
    cfg = run.params
    set_seed(run.seed, reproducible=True)
    dls, test_dl, source = data.dataloaders(run)
    learn = model.build_learner(run, dls, cfg)
    ledger = Ledger(run, sizes={s: len(source.items(s)) for s in ("train", "valid")}, fastai=fastai.__version__)
    lr_finds, observed = ledger.kept.get("lr_find", {}), ledger.kept.get("observed", {})
    counts = {}

    def load(path):
        if learn.opt is None:
            learn.create_opt()
        load_model(path, learn.model, learn.opt, with_opt=True, device=learn.dls.device)
        set_rng_state(ledger.kept["rng"], dls.train)

    for phase in PHASES:
        epochs = int(cfg[phase]["epochs"])
        if phase == "phase2":
            learn.unfreeze()
        counts[phase] = model.parameter_counts(learn)
        if ledger.finished(phase):
            continue       # finished before the restart; the later phase loads its weights
        start = ledger.first_epoch(phase) - 1
        if ledger.resuming(phase):
            ledger.restore(load)
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

        def on_epoch(row, smooth_loss, images, train_seconds, phase=phase, epochs=epochs):
            ledger.record(phase, row["epoch"], epochs, train_loss=row["train_loss"],
                          valid_loss=row["valid_loss"], valid_accuracy=row["valid_accuracy"],
                          images=images, train_seconds=train_seconds, seconds=row["seconds"],
                          save=lambda path: torch_runtime.save_later(learner_state(learn), path),
                          keep={"lr_find": lr_finds, "observed": observed, "smooth_loss": smooth_loss,
                                "rng": rng_state(dls.train)})

        log_cb = PhaseLog(phase, start, observed.setdefault(phase, new_observed()), on_epoch)
        if start:
            log_cb.smooth_loss_state = ledger.kept["smooth_loss"]
        recipe.fit_phase(learn, cfg, phase, lr, cbs=[log_cb, BatchBar(f"{run.prefix} {phase}")],
                         start_epoch=start)

    (valid, test), inference_seconds = timed(lambda: (learn.get_preds(dl=dls.valid, with_loss=True),
                                                      learn.get_preds(dl=test_dl)))
    (valid_probs, valid_targets, valid_losses), (test_probs, test_targets) = valid, test
    for split, targets in (("valid", valid_targets), ("test", test_targets)):
        if not np.array_equal(targets.numpy(), source.arrays[split][1]):
            raise RuntimeError(f"fastai's {split} loader lost the manifest row order")
    ledger.finish({"valid": valid_probs.numpy(), "test": test_probs.numpy()}, inference_seconds,
                  library_version=fastai.__version__, versions=torch_runtime.versions(device, "fastai"),
                  param_count=sum(p.numel() for p in learn.model.parameters()),
                  peak_memory_mb=torch_runtime.peak_memory_mb(device), extras={
                      "recipe": recipe_summary(run, cfg),
                      "parameter_counts": counts,
                      "observed": observed,
                      "lr_find": lr_finds or None,
                      "learning_rates": {p: dict(zip(("lr", "source"), recipe.phase_lr(cfg, p, lr_finds.get(p))))
                                         for p in PHASES},
                      "interpretation": interpret.interpretation(learn, dls.valid, valid_probs, valid_targets,
                                                                 valid_losses, source, run.split_dir),
                      "deterministic": device.type == "cpu",
                  })
