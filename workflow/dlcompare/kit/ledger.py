"""The run bookkeeping every plugin shares: checkpoints, the resume policy, the epoch ledger and
the run.json a run finishes with. A plugin supplies only its library's parts: a function that
saves its state to a path, one that loads it back, its per-epoch training and its predictions.

A plugin's save function may instead take a snapshot of its state (copies in memory, which the
next batches cannot change) and return the function that writes that snapshot: the Ledger then
runs the write in a background thread while the next epoch trains, and commits the checkpoint
(rename, sha256, state.json) only when the write has finished. One write is pending at a time;
it is waited for before the next checkpoint, before the simulated kill and by ``finish``, and its
error, if any, is raised there. On a GPU an epoch of the thesis's data lasts about as long as
writing a resnet50's model and Adam state, so the write would otherwise double the epoch.

An epoch is checkpointed when ``run.checkpoint_every`` seconds (``train.checkpoint_every``) have
passed since the last checkpoint, and always at the end of a phase; 0 checkpoints every epoch.
A kill loses at most that much training, and a short epoch does not pay for a copy of the whole
model and optimizer it does not need (resnet18 with Adam: 131 MiB, about 0.4 s of CPU on the
cores that train, against a 2.5 s epoch on two cores). Skipping a checkpoint changes nothing
else: the saved state is the same whichever epoch it is taken at, so a resumed run ends as an
uninterrupted one does.

Checkpoint layout in ``run.checkpoint_dir``: ``<phase>-epoch<k>.ckpt`` (written by the plugin's
save function) and ``state.json``, replaced atomically after it, naming that file with its
sha256, the fingerprint of the run's settings, the history so far, the throughput counters,
Python's and NumPy's RNG states and whatever JSON the plugin asked to keep. A checkpoint of other
settings is ignored (the run starts over); a damaged one is an error naming the file (delete it
or `dlcompare train --fresh`), never a silent restart nor a fault of the plugin.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from dlcompare import atomic, progress
from dlcompare.errors import UserError
from dlcompare.glossary import PHASES

STATE = "state.json"
SUFFIX = ".ckpt"
# The conformance suite's simulated kill: stop the process right after this many checkpoints.
ENV_STOP_AFTER = "DLCOMPARE_STOP_AFTER_EPOCHS"
STOP_EXIT_CODE = 75

# Write the library's state (model, optimizer, RNGs) to a path; or snapshot it and return the
# function that writes the snapshot to that path (run in the background).
Save = Callable[[Path], "Callable[[], None] | None"]
Load = Callable[[Path], Any]      # read it back (returns whatever the plugin needs later)


class CheckpointError(UserError):
    """A checkpoint on disk is damaged or does not fit this run (the message names the file)."""


def fingerprint(run, **extras) -> str:
    """A short hash of everything that must match for a checkpoint to be resumable."""
    settings = {"library": run.library, "arch": run.arch, "seed": run.seed,
                "pretrained": run.pretrained, "image_size": run.image_size,
                "batch_size": run.batch_size, "device": run.device.split(":")[0],
                "classes": list(run.classes), "params": run.params, **extras}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rng_state() -> dict:
    kind, keys, *rest = np.random.get_state()
    return {"python": _lists(random.getstate()), "numpy": [kind, keys.tolist(), *rest]}


def _set_rng_state(state: dict) -> None:
    random.setstate(_tuples(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def steady_rate(counters: dict) -> float | None:
    """Training images per second after the warm-up epochs (all epochs when there is no other)."""
    images = counters["train_images"] - counters["warmup_images"]
    seconds = counters["train_seconds"] - counters["warmup_seconds"]
    if images <= 0 or seconds <= 0:
        images, seconds = counters["train_images"], counters["train_seconds"]
    return images / seconds if seconds > 0 else None


class Ledger:
    """One run's epochs: what is done, what is left, and the artifacts at the end.

    ``extras`` join the checkpoint's fingerprint (e.g. the library's version, the training set's
    size). :meth:`restore` puts a checkpoint's library state back through the plugin's function.
    """

    def __init__(self, run, **extras):
        self.run = run
        self.key = fingerprint(run, **extras)
        self.history: list[dict] = []
        self.counters = {"train_images": 0, "train_seconds": 0.0,
                         "warmup_images": 0, "warmup_seconds": 0.0}
        self.kept: dict = {}          # the plugin's JSON state of the last checkpoint
        self.done: tuple[str | None, int] = (None, 0)
        self._state: dict | None = None
        self._warm: set[str] = set()  # the phases this process has trained an epoch of
        self._stop_after = int(os.environ.get(ENV_STOP_AFTER) or 0)
        self._recorded = 0            # epochs this process has recorded
        self._last_checkpoint = time.monotonic()
        self._pending: _Background | None = None   # the checkpoint being written
        self._read_checkpoint()

    # -- resuming ---------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return Path(self.run.checkpoint_dir)

    def _read_checkpoint(self) -> None:
        """Take the history and resume point of a verified checkpoint of these settings."""
        path = self.directory / STATE
        if not path.is_file():
            return
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            payload = self.directory / state["file"]
            expected = state["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}): "
                                  f"delete {self.directory} or run `dlcompare train --fresh`") from None
        if state.get("fingerprint") != self.key:
            self.run.log(f"{self.run.prefix}: ignoring checkpoint {path}: written with other settings")
            return
        if not payload.is_file() or sha256(payload) != expected:
            what = "missing" if not payload.is_file() else "damaged (sha256 mismatch)"
            raise CheckpointError(f"checkpoint {payload} is {what}: delete {self.directory} "
                                  f"or run `dlcompare train --fresh`")
        self._state = {**state, "path": payload}
        self.history, self.counters, self.kept = state["history"], state["counters"], state["kept"]
        self.done = (state["phase"], state["epoch"])
        self.run.log(f"{self.run.prefix}: resuming after {self.done[0]} epoch {self.done[1]}")

    def restore(self, load: Load) -> Any:
        """Call ``load(checkpoint file)`` when resuming (and restore Python's and NumPy's RNGs);
        return what it returns, or None when there is nothing to resume. Call it where the
        library's state can be put back (torch: after building; fastai: entering the phase)."""
        if self._state is None:
            return None
        path = self._state["path"]
        try:
            result = load(path)
        except Exception as exc:   # the file is verified: it was written by other code
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"checkpoint {path} does not load into this run ({reason}): "
                                  f"run `dlcompare train --fresh`") from None
        _set_rng_state(self._state["rng"])
        return result

    def finished(self, phase: str) -> bool:
        """Whether ``phase`` was complete before the restart (skip its set-up too)."""
        return self.done[0] is not None and PHASES.index(phase) < PHASES.index(self.done[0])

    def resuming(self, phase: str) -> bool:
        """Whether ``phase`` is the one the checkpoint stopped in (restore its optimizer)."""
        return self.done[0] == phase

    def first_epoch(self, phase: str) -> int:
        """The first epoch of ``phase`` still to train (1-based)."""
        return self.done[1] + 1 if self.resuming(phase) else 1

    def epochs(self, phase: str, epochs: int) -> range:
        """The epochs of ``phase`` still to train (1-based; empty when the phase is done)."""
        return range(0) if self.finished(phase) else range(self.first_epoch(phase), epochs + 1)

    # -- one epoch --------------------------------------------------------------------------

    def bar(self, phase: str, epoch: int, epochs: int, batches: int):
        """A live per-batch bar (terminal only); the context gives ``advance()``."""
        return progress.batch_bar(batches, f"{self.run.prefix} {phase} {epoch}/{epochs}")

    def record(self, phase: str, epoch: int, epochs: int, *, train_loss: float, valid_loss: float,
               valid_accuracy: float, images: int, train_seconds: float, seconds: float,
               save: Save, keep: dict | None = None) -> dict:
        """Log one finished epoch, append its history row, count its throughput and checkpoint it.

        ``train_seconds`` is the time in training steps, ``seconds`` the whole epoch (with
        validation). The first epoch a process trains in each phase is that phase's warm-up (the
        model is rebuilt, retraced or recompiled there: Keras recompiles at the unfreeze), left
        out of the steady-state rate for every library alike. ``save`` is called only when the
        epoch is checkpointed (see the module's docstring). A non-finite loss stops the run
        before it is checkpointed, so the last good checkpoint stays the resume point.
        """
        row = {"epoch": epoch, "phase": phase, "train_loss": float(train_loss),
               "valid_loss": float(valid_loss), "valid_accuracy": float(valid_accuracy),
               "seconds": float(seconds)}
        bad = [k for k in ("train_loss", "valid_loss", "valid_accuracy") if not math.isfinite(row[k])]
        if bad:
            raise UserError(f"{self.run.prefix} {phase} epoch {epoch}: {bad[0]} is {row[bad[0]]} "
                            f"(training diverged; not checkpointed, the last checkpoint is kept: "
                            f"lower the learning rate)")
        c = self.counters
        c["train_images"] += int(images)
        c["train_seconds"] += float(train_seconds)
        if phase not in self._warm:
            c["warmup_images"] += int(images)
            c["warmup_seconds"] += float(train_seconds)
            self._warm.add(phase)
        self.history.append(row)
        self.kept = dict(keep or {})
        self._recorded += 1
        stopping = bool(self._stop_after) and self._recorded >= self._stop_after
        if stopping or self._due(epoch, epochs):
            self._checkpoint(phase, epoch, save)
        self.run.log_epoch(phase, epoch, epochs, train_loss=row["train_loss"],
                           valid_loss=row["valid_loss"], valid_accuracy=row["valid_accuracy"],
                           seconds=row["seconds"])
        if stopping:   # a kill right after a checkpoint: the resume point is this epoch
            self.wait()
            self.run.log(f"{self.run.prefix}: stopping after {self._recorded} epoch(s) ({ENV_STOP_AFTER})")
            stop(STOP_EXIT_CODE)
        return row

    def _due(self, epoch: int, epochs: int) -> bool:
        """Whether this epoch is checkpointed: the phase's last, or the interval has passed."""
        every = float(self.run.checkpoint_every)
        return epoch >= epochs or time.monotonic() - self._last_checkpoint >= every

    def _checkpoint(self, phase: str, epoch: int, save: Save) -> None:
        self.wait()
        self._last_checkpoint = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{phase}-epoch{epoch}{SUFFIX}"
        # state.json as of this epoch (a JSON copy: the plugin may change what it asked to keep)
        state = json.loads(json.dumps({
            "fingerprint": self.key, "phase": phase, "epoch": epoch, "file": name, "sha256": None,
            "history": self.history, "counters": self.counters, "rng": _rng_state(), "kept": self.kept}))
        staged = contextlib.ExitStack()
        tmp = staged.enter_context(atomic.atomic_path(self.directory / name))
        try:
            write = save(tmp)
            write = write if callable(write) else None   # e.g. Path.write_bytes returns a count
        except BaseException:
            staged.__exit__(*sys.exc_info())
            raise

        def commit() -> None:
            with staged:                      # renames the file into place, or removes it on error
                if write is not None:
                    write()
            state["sha256"] = sha256(self.directory / name)
            atomic.write_json(self.directory / STATE, state)
            for old in self.directory.glob(f"*{SUFFIX}"):
                if old.name != name:
                    old.unlink(missing_ok=True)

        if write is None:
            commit()
        else:
            self._pending = _Background(commit)

    def wait(self) -> None:
        """Wait for the checkpoint being written in the background; raise its error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.join()

    # -- the end ----------------------------------------------------------------------------

    def finish(self, probs: dict[str, np.ndarray], inference_seconds: float, *, library_version: str,
               versions: dict, param_count: int, peak_memory_mb: float | None,
               extras: dict | None = None) -> None:
        """Write the probabilities, history.csv and run.json with every derived field."""
        self.wait()
        run = self.run
        for split, p in probs.items():
            run.save_probabilities(split, np.asarray(p))
        run.save_history(self.history)
        n_eval = sum(len(p) for p in probs.values())
        run.save_info({
            "library_version": str(library_version),
            "versions": versions,
            "param_count": int(param_count),
            "phase_seconds": {p: sum(r["seconds"] for r in self.history if r["phase"] == p) for p in PHASES},
            "images_per_second": {"train": steady_rate(self.counters),
                                  "inference": n_eval / inference_seconds if inference_seconds else None},
            "warmup_seconds": self.counters["warmup_seconds"],
            "peak_memory_mb": peak_memory_mb,
            "resumed_after": {"phase": self.done[0], "epoch": self.done[1]} if self.done[0] else None,
            "extras": extras or {},
        })


class _Background:
    """One function in a thread of its own; :meth:`join` re-raises what it raised."""

    def __init__(self, function: Callable[[], None]):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(function,), name="dlcompare-checkpoint")
        self.thread.start()

    def _run(self, function: Callable[[], None]) -> None:
        try:
            function()
        except BaseException as exc:   # noqa: BLE001 (handed to the training thread)
            self.error = exc

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def stop(code: int) -> None:
    """End the process at once, as a kill would: no clean-up, no artifacts."""
    os._exit(code)


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call, e.g. the predictions of a run."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start
