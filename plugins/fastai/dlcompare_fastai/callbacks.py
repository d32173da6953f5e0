"""One fastai callback per phase: the history row, one log line and a checkpoint after each epoch,
and a record of what the optimizer really used (learning rate per layer group, momentum, weight
decay), so tests and the memoir check the recipe that ran rather than the one that was asked for.

It runs after fastai's Recorder (order 50) and ParamScheduler (order 60): at ``after_epoch`` the
recorder holds the epoch's losses and accuracy, and at ``before_batch`` the one-cycle schedule has
already set this batch's hyper-parameters.
"""

from __future__ import annotations

import time

from fastai.callback.core import Callback
from fastai.torch_core import find_bs, tensor


def new_observed() -> dict:
    return {"lr_peak": [], "wd": [], "mom_first": None, "mom_min": None, "mom_max": None,
            "mom_last": None, "batches": 0}


class PhaseLog(Callback):
    """History, logging, checkpoints and observed hyper-parameters for one phase's fit."""

    order = 65

    def __init__(self, phase: str, start_epoch: int, observed: dict, counters: dict, on_epoch):
        self.phase, self.start_epoch = phase, start_epoch
        self.observed, self.counters, self.on_epoch = observed, counters, on_epoch
        self.smooth_loss_state = None   # (count, val) to restore after a resume

    def before_fit(self):
        if self.smooth_loss_state is not None:     # the recorder has just reset it
            smooth = self.recorder.smooth_loss
            smooth.count, smooth.val = self.smooth_loss_state[0], tensor(self.smooth_loss_state[1])

    def before_epoch(self):
        self.start, self.trained = time.perf_counter(), False

    def before_train(self):
        self.train_start = time.perf_counter()

    def before_batch(self):
        if not self.training:
            return
        obs, hypers = self.observed, self.opt.hypers
        obs["lr_peak"] = [max(h["lr"], obs["lr_peak"][i] if i < len(obs["lr_peak"]) else 0.0)
                          for i, h in enumerate(hypers)]
        obs["wd"] = [h["wd"] for h in hypers]
        mom = float(hypers[-1]["mom"])
        if obs["mom_first"] is None:
            obs["mom_first"] = obs["mom_min"] = obs["mom_max"] = mom
        obs["mom_min"], obs["mom_max"], obs["mom_last"] = min(obs["mom_min"], mom), max(obs["mom_max"], mom), mom
        obs["batches"] += 1

    def after_batch(self):
        if self.training:
            self.counters["train_images"] += find_bs(self.yb)

    def after_train(self):
        self.counters["train_seconds"] += time.perf_counter() - self.train_start
        self.trained = True

    def after_epoch(self):
        if not self.trained:    # an epoch fastai's SkipToEpoch skipped on resume
            return
        values = dict(zip(self.recorder.metric_names[1:], self.recorder.values[-1]))
        row = {"epoch": self.epoch + 1, "phase": self.phase, "train_loss": float(values["train_loss"]),
               "valid_loss": float(values["valid_loss"]), "valid_accuracy": float(values["accuracy"]),
               "seconds": time.perf_counter() - self.start}
        smooth = self.recorder.smooth_loss
        self.on_epoch(row, (int(smooth.count), float(smooth.val)))
