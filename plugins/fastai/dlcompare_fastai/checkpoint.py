"""Per-epoch checkpoints in ``run.checkpoint_dir``: a killed run resumes after its last epoch.

After every epoch fastai's ``learn.save(name, with_opt=True)`` writes the model and optimizer
state to ``<phase>-epoch<k>.pth``; then ``state.json`` (written atomically, so it only ever names
a complete file) records the phase and epoch reached, the history rows, timing counters, lr_find
results, observed hyper-parameters, the smoothed train loss and every RNG state (Python, NumPy,
torch, CUDA, and the training DataLoader's own shuffle RNG). A resumed run restores all of it and
continues the one-cycle schedule with ``fit_one_cycle(..., start_epoch=k)``, so on the CPU it ends
with the very weights an uninterrupted run gets. A state written under other settings (its
fingerprint differs) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch

from dlcompare import atomic

STATE = "state.json"


def fingerprint(**settings) -> str:
    """A short hash of everything that must match for a checkpoint to be resumable."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rng_state(train_dl) -> dict:
    np_state = np.random.get_state()
    state = {"python": _jsonable(random.getstate()), "loader": _jsonable(train_dl.rng.getstate()),
             "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
             "torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict, train_dl) -> None:
    random.setstate(_tuples(state["python"]))
    train_dl.rng.setstate(_tuples(state["loader"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _jsonable(state):
    return [_jsonable(s) for s in state] if isinstance(state, (tuple, list)) else state


def _tuples(state):
    return tuple(_tuples(s) for s in state) if isinstance(state, list) else state


def save(learn, directory: Path, state: dict) -> None:
    """Save model + optimizer with fastai, then the state that names that file."""
    directory = Path(directory)
    name = f"{state['phase']}-epoch{state['epoch']}"
    learn.save(name, with_opt=True)
    atomic.write_json(directory / STATE, {**state, "model_file": name})
    for old in directory.glob("*.pth"):
        if old.stem != name:
            old.unlink(missing_ok=True)


def load(directory: Path, expected_fingerprint: str, log=print) -> dict | None:
    """The saved state, or None when there is none (or it belongs to other settings)."""
    path = Path(directory) / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:   # a damaged checkpoint costs a restart, never the run
        log(f"ignoring unreadable checkpoint {path}: {type(exc).__name__}")
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log(f"ignoring checkpoint {path}: it was written with other settings")
        return None
    if not (Path(directory) / f"{state['model_file']}.pth").is_file():
        log(f"ignoring checkpoint {path}: its model file is missing")
        return None
    return state
