"""Per-epoch checkpoints in ``run.checkpoint_dir``: a killed run resumes after its last epoch.

One file, ``last.npz``, replaced atomically after every epoch. It holds every model variable
(``model.variables``: weights, BatchNorm statistics and the Dropout layers' seed states), every
optimizer variable (step count, Adam moments), and a JSON record: the phase and epoch reached,
the history rows, the Keras loss records and the timing counters. Batch order and augmentation
are derived from (seed, phase, epoch) (see data.py), so nothing else is needed for a resumed run
to continue exactly as an uninterrupted one. A checkpoint written under other settings (its
fingerprint differs) or holding other variables is ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from dlcompare import atomic

FILENAME = "last.npz"


def fingerprint(**settings) -> str:
    """A short hash of everything that must match for a checkpoint to be resumable."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(directory: Path, record: dict, model_values: list, optimizer_values: list) -> None:
    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model_values)}
    arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(optimizer_values)})
    arrays["record"] = np.array(json.dumps(record))
    with atomic.atomic_path(Path(directory) / FILENAME) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load(directory: Path, expected_fingerprint: str, log=print) -> tuple[dict, list, list] | None:
    """(record, model values, optimizer values), or None when there is no usable checkpoint."""
    path = Path(directory) / FILENAME
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            record = json.loads(str(data["record"]))
            model = [data[f"model_{i}"] for i in range(sum(k.startswith("model_") for k in data.files))]
            optimizer = [data[f"optimizer_{i}"] for i in range(sum(k.startswith("optimizer_") for k in data.files))]
    except Exception as exc:   # a damaged checkpoint costs a restart, never the run
        log(f"ignoring unreadable checkpoint {path}: {type(exc).__name__}")
        return None
    if record.get("fingerprint") != expected_fingerprint:
        log(f"ignoring checkpoint {path}: it was written with other settings")
        return None
    return record, model, optimizer


def assign(variables, values, what: str) -> None:
    """Put saved values back; ValueError when they do not fit (another model)."""
    if len(variables) != len(values):
        raise ValueError(f"{what}: {len(values)} saved values for {len(variables)} variables")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{what}: {variable.path} has shape {tuple(variable.shape)}, saved {value.shape}")
        variable.assign(value)
