"""fastai callbacks. ``PhaseLog`` (one per phase): hands each finished epoch (its row, images and
training seconds) to dlcompare's Ledger, which logs, counts and checkpoints it, and keeps a record of what the optimizer really used (the one-cycle
schedule fastai runs, per layer group, and the learning rate, momentum and weight decay each
batch saw), so tests and the memoir check the recipe that ran rather than the one asked for.

PhaseLog runs after fastai's Recorder (order 50) and ParamScheduler (order 60): at ``after_epoch`` the
recorder holds the epoch's losses and accuracy, and at ``before_batch`` the one-cycle schedule has
already set this batch's hyper-parameters. ``BatchBar``: a live bar on a terminal only.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
from fastai.callback.core import Callback
from fastai.callback.schedule import ParamScheduler
from fastai.torch_core import find_bs, tensor

from dlcompare import progress


def one_cycle_schedule(learn) -> dict | None:
    """The one-cycle curves fit_one_cycle handed fastai's ParamScheduler, read on a fine grid:
    each layer group's peak learning rate and the momentum's start, low point and end."""
    sched = next((cb for cb in learn.cbs if isinstance(cb, ParamScheduler)), None)
    if sched is None:
        return None
    grid = np.linspace(0.0, 1.0, 401)
    groups = len(learn.opt.hypers)
    lrs = np.array([np.broadcast_to(np.asarray(sched.scheds["lr"](p), dtype=float), (groups,)) for p in grid])
    moms = np.array([float(sched.scheds["mom"](p)) for p in grid])
    return {"lr_max": lrs.max(axis=0).tolist(), "lr_start": lrs[0].tolist(), "lr_end": lrs[-1].tolist(),
            "mom_start": float(moms[0]), "mom_min": float(moms.min()), "mom_end": float(moms[-1])}


def new_observed() -> dict:
    return {"lr_max_seen": [], "wd": [], "mom_first": None, "mom_min": None, "mom_max": None,
            "mom_last": None, "batches": 0}


class PhaseLog(Callback):
    """Each epoch's row for the Ledger, and the observed hyper-parameters, of one phase's fit."""

    order = 65

    def __init__(self, phase: str, start_epoch: int, observed: dict, on_epoch):
        self.phase, self.start_epoch = phase, start_epoch
        self.observed, self.on_epoch = observed, on_epoch
        self.smooth_loss_state = None   # (count, val) to restore after a resume

    def before_fit(self):
        self.observed["schedule"] = one_cycle_schedule(self.learn)
        if self.smooth_loss_state is not None:     # the recorder has just reset it
            smooth = self.recorder.smooth_loss
            smooth.count, smooth.val = self.smooth_loss_state[0], tensor(self.smooth_loss_state[1])

    def before_epoch(self):
        self.start, self.trained = time.perf_counter(), False
        self.images, self.train_seconds = 0, 0.0

    def before_train(self):
        self.train_start = time.perf_counter()

    def before_batch(self):
        if not self.training:
            return
        obs, hypers = self.observed, self.opt.hypers
        obs["lr_max_seen"] = [max(h["lr"], obs["lr_max_seen"][i] if i < len(obs["lr_max_seen"]) else 0.0)
                          for i, h in enumerate(hypers)]
        obs["wd"] = [h["wd"] for h in hypers]
        mom = float(hypers[-1]["mom"])
        if obs["mom_first"] is None:
            obs["mom_first"] = obs["mom_min"] = obs["mom_max"] = mom
        obs["mom_min"], obs["mom_max"], obs["mom_last"] = min(obs["mom_min"], mom), max(obs["mom_max"], mom), mom
        obs["batches"] += 1

    def after_batch(self):
        if self.training:
            self.images += find_bs(self.yb)

    def after_train(self):
        self.train_seconds += time.perf_counter() - self.train_start
        self.trained = True

    def after_epoch(self):
        if not self.trained:    # an epoch fastai's SkipToEpoch skipped on resume
            return
        values = dict(zip(self.recorder.metric_names[1:], self.recorder.values[-1]))
        row = {"epoch": self.epoch + 1, "phase": self.phase, "train_loss": float(values["train_loss"]),
               "valid_loss": float(values["valid_loss"]), "valid_accuracy": float(values["accuracy"]),
               "seconds": time.perf_counter() - self.start}
        smooth = self.recorder.smooth_loss
        self.on_epoch(row, (int(smooth.count), float(smooth.val)), self.images, self.train_seconds)


class BatchBar(Callback):
    """A live per-batch bar over each training epoch on a terminal, nothing in a log file (the
    plugin removes fastprogress's bars, which write ``\\r`` lines into logs): the same bar as the
    torch plugin's, from dlcompare.progress."""

    order = 66

    def __init__(self, description: str):
        self.description, self.stack, self.advance = description, None, None

    def before_train(self):
        self.stack = contextlib.ExitStack()
        label = f"{self.description} {self.epoch + 1}/{self.n_epoch}"
        self.advance = self.stack.enter_context(progress.batch_bar(len(self.dl), label))

    def after_batch(self):
        if self.training and self.advance is not None:
            self.advance()

    def after_train(self):
        self._close()

    def after_fit(self):
        self._close()       # also when training was cancelled mid-epoch

    def _close(self):
        if self.stack is not None:
            self.stack.close()
        self.stack = self.advance = None
