"""Per-epoch checkpoints in ``run.checkpoint_dir``: a killed run resumes after its last epoch.

One file, ``last.pt``, replaced atomically after every epoch. It holds the model, optimizer,
scheduler and grad-scaler states, the phase and epoch reached, the history rows so far, the
timing counters and every RNG state (torch CPU/CUDA and the training loader's generator), so a
resumed run continues the very same sequence of batches and augmentations. A checkpoint written
under different settings (its fingerprint differs) is ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from dlcompare import atomic

FILENAME = "last.pt"


def fingerprint(**settings) -> str:
    """A short hash of everything that must match for a checkpoint to be resumable."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "loader": generator.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: Path, state: dict) -> None:
    with atomic.atomic_path(Path(directory) / FILENAME) as tmp:
        torch.save(state, tmp)


def load(directory: Path, expected_fingerprint: str, log=print) -> dict | None:
    """The saved state, or None when there is none (or it belongs to other settings)."""
    path = Path(directory) / FILENAME
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # a damaged checkpoint costs a restart, never the run
        log(f"ignoring unreadable checkpoint {path}: {type(exc).__name__}")
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log(f"ignoring checkpoint {path}: it was written with other settings")
        return None
    return state
