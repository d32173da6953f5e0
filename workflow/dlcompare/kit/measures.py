"""What every plugin measures the same way: validation loss and accuracy from probabilities, the
versions that matter, the process's peak memory. Pure NumPy and the standard library."""

from __future__ import annotations

import importlib.metadata
import platform
import resource

import numpy as np


def loss_and_accuracy(probs, labels) -> tuple[float, float]:
    """Cross-entropy and accuracy of softmax probabilities (the same formula for every library)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels, dtype=np.int64)
    picked = np.clip(probs[np.arange(len(labels)), labels].astype(np.float64), 1e-12, None)
    return float(-np.mean(np.log(picked))), float(np.mean(probs.argmax(axis=1) == labels))


def versions(*distributions: str, device_name: str | None = None, **more) -> dict:
    """name -> version of each installed distribution, plus Python, NumPy and the device's name
    (the memoir's hardware column reads ``device_name``; default: the CPU's)."""
    out = {name: importlib.metadata.version(name) for name in distributions}
    out.update(python=platform.python_version(), numpy=np.__version__,
               device_name=device_name or platform.processor() or platform.machine(), **more)
    return out


def peak_rss_mb() -> float:
    """The process's peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
