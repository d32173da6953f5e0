"""A dependency-free trainer that keeps the whole run contract, resume included.

Softmax regression in numpy on 8x8-pooled pixels, in two phases (two learning rates). It is not
registered anywhere: the core's tests and the conformance suite's self-test use it as the
known-good plugin, and break it on purpose (by overriding one method) to see each rule fail.
"""

from __future__ import annotations

import json
import platform
import resource
import time

import numpy as np

from dlcompare import atomic
from dlcompare.host.contract import Run, Trainer
from dlcompare.glossary import PHASES

DEFAULTS = {"phase1": {"epochs": 2, "lr": 0.5}, "phase2": {"epochs": 2, "lr": 0.1}}
PHASE_SCHEMA = {"type": "object", "additionalProperties": False,
                "properties": {"epochs": {"type": "integer", "minimum": 0},
                               "lr": {"type": "number", "exclusiveMinimum": 0}}}
STATE = "state.npz"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class ReferenceTrainer(Trainer):
    name = "reference"
    architectures = ("linear",)
    params_schema = {"type": "object", "additionalProperties": False,
                     "properties": {p: PHASE_SCHEMA for p in PHASES}}

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
        cfg = {p: {**DEFAULTS[p], **run.params.get(p, {})} for p in PHASES}
        (xt, yt), (xv, yv) = [(self.features(i), l) for i, l in map(run.load, ("train", "valid"))]
        state_path = run.checkpoint_dir / STATE
        if state_path.is_file():   # resume: weights, history and timings of the finished epochs
            state = np.load(state_path)
            w, b = state["w"], state["b"]
            history = json.loads(str(state["history"]))
            seconds = json.loads(str(state["seconds"]))
            run.log(f"{run.prefix}: resuming after epoch {len(history)}")
        else:
            w = self.epoch_rng(run, 0).normal(0, 0.01, (xt.shape[1], run.n_classes))
            b, history, seconds = np.zeros(run.n_classes), [], dict.fromkeys(PHASES, 0.0)
        step = 0
        for phase in PHASES:
            for epoch in range(1, cfg[phase]["epochs"] + 1):
                step += 1
                if step <= len(history):
                    continue
                start = time.perf_counter()
                train_loss = self.fit_epoch(run, (w, b), xt, yt, cfg[phase]["lr"], step)
                pv = self.predict((w, b), xv)
                row = {"epoch": epoch, "phase": phase, "train_loss": train_loss,
                       "valid_loss": float(-np.log(pv[np.arange(len(yv)), yv] + 1e-12).mean()),
                       "valid_accuracy": float((pv.argmax(axis=1) == yv).mean()),
                       "seconds": time.perf_counter() - start}
                history.append(row)
                seconds[phase] += row["seconds"]
                run.log_epoch(phase, epoch, cfg[phase]["epochs"], train_loss=train_loss,
                              valid_loss=row["valid_loss"], valid_accuracy=row["valid_accuracy"],
                              seconds=row["seconds"])
                with atomic.atomic_path(state_path) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, w=w, b=b, history=json.dumps(history), seconds=json.dumps(seconds))
        run.save_history(history)
        start = time.perf_counter()
        n_eval = 0
        for split in ("valid", "test"):
            images, _ = run.load(split)
            run.save_probabilities(split, self.saved_probabilities((w, b), self.features(images)))
            n_eval += len(images)
        inference = n_eval / max(time.perf_counter() - start, 1e-9)
        train_seconds = sum(seconds.values())
        epochs = sum(cfg[p]["epochs"] for p in PHASES)
        run.save_info({
            "library_version": self.library_version(),
            "versions": {"numpy": np.__version__, "python": platform.python_version()},
            "param_count": int(w.size + b.size),
            "phase_seconds": seconds,
            "images_per_second": {"train": len(yt) * epochs / max(train_seconds, 1e-9),
                                  "inference": inference},
            "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        })
