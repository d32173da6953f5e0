"""Metrics computed by the core from saved probabilities, identically for every library
(so losses are comparable across libraries, which the thesis's were not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from dlcompare import atomic
from dlcompare.host import contract
from dlcompare.data import splitcache
from dlcompare.errors import UserError
from dlcompare.glossary import EVAL_SPLITS, HISTORY, METRICS, PROBS


def split_metrics(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """accuracy, cross-entropy, balanced accuracy, macro-F1, per-class recall, confusion matrix.

    Rows are renormalised in float64 first: float32 softmax rows sum to 1 only within ~1e-7,
    and scikit-learn rejects values above 1.
    """
    idx = list(range(len(classes)))
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    labels = np.asarray(labels)
    pred = probs.argmax(axis=1)
    return {
        "n": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, pred)),
        "loss": float(skm.log_loss(labels, probs, labels=idx)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(labels, pred)),
        "macro_f1": float(skm.f1_score(labels, pred, labels=idx, average="macro", zero_division=0)),
        "recall": dict(zip(classes, map(float, skm.recall_score(
            labels, pred, labels=idx, average=None, zero_division=0)))),
        "confusion_matrix": skm.confusion_matrix(labels, pred, labels=idx).tolist(),
    }


def evaluate_run(run_dir: str | Path, split_dir: str | Path) -> dict:
    """metrics.json content for one run directory; a broken run dir is a UserError."""
    run_dir = Path(run_dir)
    classes = splitcache.load_classes(split_dir)
    try:
        info = contract.check_artifacts(run_dir, split_dir, len(classes))
        history = contract.check_history(run_dir / HISTORY)
    except contract.ArtifactError as exc:
        raise UserError(f"{run_dir}: {exc}") from None
    out: dict = {"library": info["library"], "arch": info["arch"], "seed": info["seed"],
                 "classes": classes}
    for split in EVAL_SPLITS:
        probs = np.load(run_dir / PROBS[split])
        _, labels = splitcache.load_split(split_dir, split)
        out[split] = split_metrics(probs, labels, classes)
    out["epochs"] = len(history)   # no timings: identical runs give byte-identical metrics (run.json has them)
    return out


def write_metrics(run_dir: str | Path, split_dir: str | Path) -> dict:
    """Compute and (atomically) write ``<run_dir>/metrics.json``; return its content."""
    result = evaluate_run(run_dir, split_dir)
    atomic.write_json(Path(run_dir) / METRICS, result)
    return result

