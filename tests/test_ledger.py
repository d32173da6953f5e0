"""The kit's Ledger: resume policy, verified checkpoints, non-finite epochs, throughput, run.json."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from dlcompare import Ledger, Run, UserError
from dlcompare.kit import ledger as ledger_mod


def make_run(tmp_path: Path, params=None, lines=None, checkpoint_every=0.0) -> Run:
    out = tmp_path / "out"
    out.mkdir(parents=True, exist_ok=True)
    return Run(library="toy", arch="linear", seed=0, device="cpu", pretrained="none", image_size=8,
               batch_size=4, threads=1, classes=["a", "b"], split_dir=tmp_path / "split",
               out_dir=out, checkpoint_dir=tmp_path / "ckpt", params=params or {"lr": 0.1},
               log=(lines if lines is not None else []).append, checkpoint_every=checkpoint_every)


def train(run: Run, stop_after: int | None = None) -> Ledger:
    """A toy 'library': its state is a counter; 2 epochs in phase1, 1 in phase2."""
    state = {"w": 0}
    ledger = Ledger(run)
    restored = ledger.restore(lambda path: pickle.loads(path.read_bytes()))
    if restored:
        state.update(restored)
    recorded = 0
    for phase, epochs in (("phase1", 2), ("phase2", 1)):
        for epoch in ledger.epochs(phase, epochs):
            state["w"] += 1
            ledger.record(phase, epoch, epochs, train_loss=1.0 / state["w"], valid_loss=0.5,
                          valid_accuracy=0.5, images=8, train_seconds=0.1 * epoch, seconds=0.2,
                          save=lambda path: path.write_bytes(pickle.dumps(state)), keep={"w": state["w"]})
            recorded += 1
            if stop_after and recorded == stop_after:
                raise KeyboardInterrupt   # a kill right after the checkpoint
    ledger.finish({"valid": np.full((3, 2), 0.5), "test": np.full((2, 2), 0.5)}, 0.5,
                  library_version="1.0", versions={}, param_count=3, peak_memory_mb=None)
    return ledger


def test_uninterrupted_run_writes_history_and_every_derived_field(tmp_path):
    run = make_run(tmp_path)
    train(run)
    info = json.loads((run.out_dir / "run.json").read_text())
    assert info["phase_seconds"] == pytest.approx({"phase1": 0.4, "phase2": 0.2})
    # the first epoch of each phase is its warm-up (phase1 epoch 1, phase2 epoch 1: 0.1 s each);
    # the steady state is phase1 epoch 2 (8 images in 0.2 s)
    assert info["images_per_second"]["train"] == pytest.approx(8 / 0.2)
    assert info["images_per_second"]["inference"] == pytest.approx(5 / 0.5)
    assert info["warmup_seconds"] == pytest.approx(0.2) and info["resumed_after"] is None
    assert (run.out_dir / "history.csv").read_text().count("\n") == 4


def test_killed_run_resumes_after_its_last_checkpoint(tmp_path):
    lines = []
    with pytest.raises(KeyboardInterrupt):
        train(make_run(tmp_path, lines=lines), stop_after=1)
    ledger = train(make_run(tmp_path, lines=lines))
    assert "toy/linear/seed0: resuming after phase1 epoch 1" in lines
    assert [(r["phase"], r["epoch"], r["train_loss"]) for r in ledger.history] == \
        [("phase1", 1, 1.0), ("phase1", 2, 0.5), ("phase2", 1, 1 / 3)]   # the counter was restored
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["resumed_after"] == {"phase": "phase1", "epoch": 1}


class Clock:
    """time.monotonic for the Ledger: each epoch lasts ``epoch`` seconds."""

    def __init__(self, epoch: float):
        self.now, self.epoch = 1000.0, epoch

    def __call__(self) -> float:
        return self.now


def checkpoints_of(tmp_path, monkeypatch, every: float, epoch: float, phases) -> list:
    """The (phase, epoch) of each checkpoint a run of ``phases`` [(phase, epochs)] writes."""
    clock = Clock(epoch)
    monkeypatch.setattr(ledger_mod.time, "monotonic", clock)
    ledger, written = Ledger(make_run(tmp_path, checkpoint_every=every)), []
    for phase, epochs in phases:
        for k in range(1, epochs + 1):
            clock.now += clock.epoch
            ledger.record(phase, k, epochs, train_loss=1.0, valid_loss=0.5, valid_accuracy=0.5,
                          images=8, train_seconds=0.1, seconds=clock.epoch,
                          save=lambda path, at=(phase, k): written.append(at) or path.write_bytes(b"s"))
    return written


def test_checkpoints_come_at_the_interval_and_at_every_phase_end(tmp_path, monkeypatch):
    phases = [("phase1", 2), ("phase2", 7)]
    # 25 s epochs, every 60 s: the third epoch after a checkpoint passes it
    assert checkpoints_of(tmp_path, monkeypatch, 60, 25.0, phases) == \
        [("phase1", 2), ("phase2", 3), ("phase2", 6), ("phase2", 7)]
    state = json.loads((tmp_path / "ckpt" / ledger_mod.STATE).read_text())
    assert (state["phase"], state["epoch"], len(state["history"])) == ("phase2", 7, 9)


def test_checkpoint_every_0_checkpoints_every_epoch(tmp_path, monkeypatch):
    assert len(checkpoints_of(tmp_path, monkeypatch, 0, 0.5, [("phase1", 2), ("phase2", 3)])) == 5


def test_a_kill_between_checkpoints_resumes_from_the_last_one_and_ends_the_same(tmp_path, monkeypatch):
    """Epochs trained after the last checkpoint are trained again; the result does not change."""
    clock = Clock(25.0)
    monkeypatch.setattr(ledger_mod.time, "monotonic", clock)

    def toy(run, kill_after=None):   # 5 epochs of 25 s, checkpoints every 60 s: after epochs 3 and 5
        ledger, state = Ledger(run), {"w": 0}
        state.update(ledger.restore(lambda path: pickle.loads(path.read_bytes())) or {})
        for epoch in ledger.epochs("phase1", 5):
            clock.now += clock.epoch
            state["w"] += epoch
            ledger.record("phase1", epoch, 5, train_loss=1.0 / state["w"], valid_loss=0.5,
                          valid_accuracy=0.5, images=8, train_seconds=0.1, seconds=25.0,
                          save=lambda path, s=dict(state): path.write_bytes(pickle.dumps(s)))
            if epoch == kill_after:
                raise KeyboardInterrupt
        return ledger.history

    uninterrupted = toy(make_run(tmp_path / "a", checkpoint_every=60))
    lines = []
    with pytest.raises(KeyboardInterrupt):
        toy(make_run(tmp_path / "b", lines=lines, checkpoint_every=60), kill_after=4)
    assert json.loads((tmp_path / "b" / "ckpt" / ledger_mod.STATE).read_text())["epoch"] == 3
    resumed = toy(make_run(tmp_path / "b", lines=lines, checkpoint_every=60))
    assert "toy/linear/seed0: resuming after phase1 epoch 3" in lines
    assert resumed == uninterrupted and len(resumed) == 5


def test_a_checkpoint_of_other_settings_is_ignored(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(make_run(tmp_path), stop_after=2)
    lines = []
    ledger = Ledger(make_run(tmp_path, params={"lr": 0.2}, lines=lines))
    assert ledger.done == (None, 0) and "written with other settings" in lines[0]


def test_a_damaged_checkpoint_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(make_run(tmp_path), stop_after=2)
    payload = tmp_path / "ckpt" / "phase1-epoch2.ckpt"
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] and payload.is_file()
    payload.write_bytes(payload.read_bytes()[:-1] + b"x")
    with pytest.raises(ledger_mod.CheckpointError, match=f"checkpoint {payload} is damaged.*--fresh"):
        Ledger(make_run(tmp_path))
    payload.unlink()
    with pytest.raises(UserError, match=f"checkpoint {payload} is missing"):
        Ledger(make_run(tmp_path))


def test_a_checkpoint_that_does_not_load_names_the_file_not_the_plugin(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(make_run(tmp_path), stop_after=1)
    ledger = Ledger(make_run(tmp_path))

    def load(path):
        raise RuntimeError("size mismatch for fc.weight")

    with pytest.raises(ledger_mod.CheckpointError, match="phase1-epoch1.ckpt does not load into "
                                                         "this run \\(size mismatch for fc.weight\\)"):
        ledger.restore(load)


def test_a_non_finite_epoch_is_never_checkpointed(tmp_path):
    run = make_run(tmp_path)
    ledger = Ledger(run)
    good = dict(valid_loss=0.5, valid_accuracy=0.5, images=8, train_seconds=0.1, seconds=0.1,
                save=lambda path: path.write_bytes(b"ok"))
    ledger.record("phase1", 1, 2, train_loss=1.0, **good)
    with pytest.raises(UserError, match="phase1 epoch 2: train_loss is nan .*not checkpointed"):
        ledger.record("phase1", 2, 2, train_loss=float("nan"), **good)
    state = json.loads((tmp_path / "ckpt" / ledger_mod.STATE).read_text())
    assert (state["phase"], state["epoch"]) == ("phase1", 1)


def test_stop_after_exits_like_a_kill(tmp_path, monkeypatch):
    """The conformance suite's simulated kill: os._exit right after the checkpoint."""
    exits = []
    monkeypatch.setenv(ledger_mod.ENV_STOP_AFTER, "1")
    def stop(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(ledger_mod, "stop", stop)
    with pytest.raises(SystemExit):   # the stopping epoch is checkpointed, whatever the interval
        train(make_run(tmp_path, checkpoint_every=3600))
    assert exits == [ledger_mod.STOP_EXIT_CODE]
    state = json.loads((tmp_path / "ckpt" / ledger_mod.STATE).read_text())
    assert (state["phase"], state["epoch"]) == ("phase1", 1)


def test_a_snapshot_save_is_written_in_the_background_and_committed_after_it(tmp_path):
    """save(path) may return a writer: the Ledger runs it in a thread, and state.json names the
    new file only once the write is done; what the plugin keeps is copied at record time."""
    import threading

    run = make_run(tmp_path)
    ledger = Ledger(run)
    release, threads = threading.Event(), []
    kept = {"rows": [1]}

    def save(path):
        snapshot = b"epoch-state"

        def write():
            threads.append(threading.current_thread().name)
            release.wait(10)
            path.write_bytes(snapshot)
        return write

    common = dict(valid_loss=0.5, valid_accuracy=0.5, images=8, train_seconds=0.1, seconds=0.1)
    ledger.record("phase1", 1, 2, train_loss=1.0, save=lambda path: path.write_bytes(b"first"), **common)
    ledger.record("phase1", 2, 2, train_loss=1.0, save=save, keep=kept, **common)
    kept["rows"].append(2)                       # the plugin goes on changing its own list
    state_file = tmp_path / "ckpt" / ledger_mod.STATE
    assert json.loads(state_file.read_text())["epoch"] == 1   # not committed while writing
    release.set()
    ledger.wait()
    state = json.loads(state_file.read_text())
    assert (state["epoch"], state["kept"]) == (2, {"rows": [1]}) and threads == ["dlcompare-checkpoint"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["phase1-epoch2.ckpt", ledger_mod.STATE]
    assert state["sha256"] == ledger_mod.sha256(tmp_path / "ckpt" / "phase1-epoch2.ckpt")


def test_a_failed_background_write_is_raised_and_keeps_the_last_checkpoint(tmp_path):
    run = make_run(tmp_path)
    ledger = Ledger(run)
    common = dict(valid_loss=0.5, valid_accuracy=0.5, images=8, train_seconds=0.1, seconds=0.1)
    ledger.record("phase1", 1, 2, train_loss=1.0, save=lambda path: path.write_bytes(b"first"), **common)

    def save(path):
        def write():
            path.write_bytes(b"half")
            raise OSError(28, "No space left on device")
        return write

    ledger.record("phase1", 2, 2, train_loss=1.0, save=save, **common)
    with pytest.raises(OSError, match="No space left"):
        ledger.finish({"valid": np.full((3, 2), 0.5)}, 0.5, library_version="1", versions={},
                      param_count=1, peak_memory_mb=None)
    state = json.loads((tmp_path / "ckpt" / ledger_mod.STATE).read_text())
    assert state["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["phase1-epoch1.ckpt", ledger_mod.STATE]
    assert not (run.out_dir / "run.json").exists()


def test_a_run_checkpointed_in_the_background_resumes_where_it_stopped(tmp_path, monkeypatch):
    """The simulated kill (os._exit, which ends every thread) comes only after the pending write
    is committed, so the resume point is the epoch just trained."""
    import time

    at_stop = []

    def stop(code):
        at_stop.append(json.loads((tmp_path / "ckpt" / ledger_mod.STATE).read_text())["epoch"])
        raise SystemExit(code)

    monkeypatch.setenv(ledger_mod.ENV_STOP_AFTER, "2")
    monkeypatch.setattr(ledger_mod, "stop", stop)

    def slow_write(path, snapshot):
        def write():
            time.sleep(0.3)
            path.write_bytes(pickle.dumps(snapshot))
        return write

    def background_train(run):
        state = {"w": 0}
        ledger = Ledger(run)
        state.update(ledger.restore(lambda path: pickle.loads(path.read_bytes())) or {})
        for phase, epochs in (("phase1", 2), ("phase2", 1)):
            for epoch in ledger.epochs(phase, epochs):
                state["w"] += 1
                ledger.record(phase, epoch, epochs, train_loss=1.0, valid_loss=0.5, valid_accuracy=0.5,
                              images=8, train_seconds=0.1, seconds=0.2,
                              save=lambda path, s=dict(state): slow_write(path, s))
        return state

    with pytest.raises(SystemExit):
        background_train(make_run(tmp_path))
    assert at_stop == [2]
    monkeypatch.delenv(ledger_mod.ENV_STOP_AFTER)
    lines = []
    assert background_train(make_run(tmp_path, lines=lines)) == {"w": 3}
    assert "toy/linear/seed0: resuming after phase1 epoch 2" in lines
