"""A dependency-free trainer that keeps the whole run contract, resume included.

Softmax regression in numpy on 8x8-pooled pixels, in two phases (two learning rates). It is not
registered anywhere: the core's tests and the conformance suite's self-test use it as the
known-good plugin, and break it on purpose (by overriding one method) to see each rule fail.
"""

from __future__ import annotations

import io
import time

import numpy as np

from dlcompare import PHASES, Ledger, Run, Trainer, loss_and_accuracy, peak_rss_mb, timed, versions

PHASE_SCHEMA = {"type": "object", "additionalProperties": False,
                "properties": {"epochs": {"type": "integer", "minimum": 0},
                               "lr": {"type": "number", "exclusiveMinimum": 0}}}
DEFAULTS = {"phase1": {"epochs": 2, "lr": 0.5}, "phase2": {"epochs": 2, "lr": 0.1}}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class ReferenceTrainer(Trainer):
    name = "reference"
    architectures = ("linear",)
    params_schema = {"type": "object", "additionalProperties": False,
                     "properties": {p: {**PHASE_SCHEMA, "default": DEFAULTS[p]} for p in PHASES}}

    def library_version(self) -> str:
        return np.__version__

    def features(self, images: np.ndarray) -> np.ndarray:
        n, s = len(images), images.shape[1]
        x = np.asarray(images, dtype=np.float64) / 255.0
        x = x[:, : s - s % 8, : s - s % 8].reshape(n, 8, s // 8, 8, s // 8, 3).mean(axis=(2, 4))
        return x.reshape(n, -1)

    def epoch_rng(self, run: Run, step: int) -> np.random.Generator:
        """One generator per epoch, derived from the seed: a resumed run shuffles the same way."""
        return np.random.default_rng([run.seed, step])

    def predict(self, weights: tuple, x: np.ndarray) -> np.ndarray:
        w, b = weights
        return softmax(x @ w + b)

    def saved_probabilities(self, weights: tuple, x: np.ndarray) -> np.ndarray:
        """What goes into probs_<split>.npy (tests override this to break the contract)."""
        return self.predict(weights, x)

    def save(self, path, weights: tuple) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, w=weights[0], b=weights[1])

    def load(self, path) -> tuple:
        with np.load(io.BytesIO(path.read_bytes())) as saved:
            return saved["w"], saved["b"]

    def fit_epoch(self, run: Run, weights: tuple, x, y, lr: float, step: int) -> float:
        w, b = weights
        order = self.epoch_rng(run, step).permutation(len(y))
        losses = []
        for start in range(0, len(y), run.batch_size):
            idx = order[start:start + run.batch_size]
            p = softmax(x[idx] @ w + b)
            losses.append(-np.log(p[np.arange(len(idx)), y[idx]] + 1e-12).mean())
            p[np.arange(len(idx)), y[idx]] -= 1.0
            w -= lr * x[idx].T @ p / len(idx)
            b -= lr * p.mean(axis=0)
        return float(np.mean(losses))

    def train(self, run: Run) -> None:
        cfg = run.params
        (xt, yt), (xv, yv) = [(self.features(i), l) for i, l in map(run.load, ("train", "valid"))]
        ledger = Ledger(run)
        weights = ledger.restore(self.load) or (
            self.epoch_rng(run, 0).normal(0, 0.01, (xt.shape[1], run.n_classes)), np.zeros(run.n_classes))
        step = 0
        for phase in PHASES:
            epochs = cfg[phase]["epochs"]
            step += ledger.first_epoch(phase) - 1 if not ledger.finished(phase) else epochs
            for epoch in ledger.epochs(phase, epochs):
                step += 1
                start = time.perf_counter()
                train_loss = self.fit_epoch(run, weights, xt, yt, cfg[phase]["lr"], step)
                train_seconds = time.perf_counter() - start
                valid_loss, valid_accuracy = loss_and_accuracy(self.predict(weights, xv), yv)
                ledger.record(phase, epoch, epochs, train_loss=train_loss, valid_loss=valid_loss,
                              valid_accuracy=valid_accuracy, images=len(yt), train_seconds=train_seconds,
                              seconds=time.perf_counter() - start,
                              save=lambda path: self.save(path, weights))
        probs, seconds = timed(lambda: {split: self.saved_probabilities(weights, self.features(run.load(split)[0]))
                                        for split in ("valid", "test")})
        ledger.finish(probs, seconds, library_version=self.library_version(), versions=versions(),
                      param_count=int(weights[0].size + weights[1].size), peak_memory_mb=peak_rss_mb())
