"""The core train path with the dependency-free reference trainer: atomic publishing, resume from
the checkpoint directory, contract violations, device choice and plugin params."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dlcompare import glossary, params as params_mod, testing
from dlcompare.host import training
from dlcompare.conformance.reference import ReferenceTrainer
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry

RUN = glossary.run_dir(glossary.RESULTS_DIR, "reference", "linear", 0)
CHECKPOINT = glossary.checkpoint_dir("reference", "linear", 0)


def make_params(section=None, **train):
    return params_mod.validate({
        "data": {"dataset": "digits", "image_size": 32},
        "train": {"libraries": ["reference"], "archs": ["linear"], "seeds": [0], "device": "cpu",
                  "batch_size": 16, "threads": 1, **train},
        "reference": section or {}})


def registry(trainer):
    return Registry({"reference": trainer}, {"reference": "built-in"}, {})


@pytest.fixture
def project(tmp_path, monkeypatch):
    testing.make_split(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def train(trainer=None, log=None, **kw):
    lines = [] if log is None else log
    return training.train(make_params(**kw), "reference", "linear", 0, log=lines.append,
                          registry=registry(trainer or ReferenceTrainer()))


def test_a_run_is_published_whole_with_metrics(project):
    log = []
    final = train(log=log)
    assert str(final) == RUN
    assert sorted(os.listdir(final)) == sorted(glossary.RUN_ARTIFACTS)
    assert sorted(os.listdir(final.parent)) == ["seed0"]          # no staging dir left behind
    assert not os.path.exists(CHECKPOINT)                          # removed after success
    metrics = json.loads((final / glossary.METRICS).read_text())
    assert metrics["valid"]["n"] == 18 and metrics["epochs"] == 4
    assert log[0] == "reference/linear/seed0: training on cpu (3 classes)"
    assert "reference/linear/seed0 phase2 epoch 2/2 train_loss" in log[-2]
    assert log[-1].startswith("reference/linear/seed0: valid accuracy ")


class CrashAfter(ReferenceTrainer):
    """Raises in the middle of training, after ``epochs`` epochs were checkpointed."""

    def __init__(self, epochs):
        self.epochs, self.done = epochs, 0

    def fit_epoch(self, *args):
        if self.done == self.epochs:
            raise RuntimeError("out of memory")
        self.done += 1
        return super().fit_epoch(*args)


def test_a_failed_run_leaves_nothing_finished_and_a_rerun_resumes(project):
    with pytest.raises(RuntimeError, match="out of memory"):
        train(CrashAfter(3))
    assert not os.path.exists(RUN) and not os.path.exists(os.path.dirname(RUN) + "/.seed0.partial")
    assert os.listdir(CHECKPOINT) == ["state.npz"]                 # kept for the next attempt

    log = []
    resumed = train(CrashAfter(99), log=log)
    assert "reference/linear/seed0: resuming after epoch 3" in log
    assert sum("epoch" in line and "phase" in line for line in log) == 1   # only epoch 4 ran again
    assert not os.path.exists(CHECKPOINT)
    resumed_metrics = json.loads((resumed / glossary.METRICS).read_text())
    history = (resumed / glossary.HISTORY).read_text().splitlines()
    assert [h.split(",")[:2] for h in history[1:]] == [["1", "phase1"], ["2", "phase1"],
                                                       ["1", "phase2"], ["2", "phase2"]]
    # resuming gives the very run an uninterrupted attempt gives (timings aside)
    shutil.rmtree(RUN)
    straight = json.loads((train() / glossary.METRICS).read_text())
    assert [straight[s] for s in glossary.EVAL_SPLITS] == [resumed_metrics[s] for s in glossary.EVAL_SPLITS]


def test_a_failed_rerun_keeps_the_previous_finished_run(project):
    before = (train() / glossary.METRICS).read_text()
    with pytest.raises(RuntimeError):
        train(CrashAfter(1))
    assert (project / RUN / glossary.METRICS).read_text() == before
    assert sorted(os.listdir(project / RUN)) == sorted(glossary.RUN_ARTIFACTS)


KILLED = textwrap.dedent("""
    import os, signal
    from dlcompare import params
    from dlcompare.host import training
    from dlcompare.conformance.reference import ReferenceTrainer
    from dlcompare.host.plugins import Registry

    class Killed(ReferenceTrainer):
        def saved_probabilities(self, weights, x):
            if os.listdir(run_out):      # history.csv is written: die like a SIGKILLed job
                os.kill(os.getpid(), signal.SIGKILL)
            return super().saved_probabilities(weights, x)

        def train(self, run):
            global run_out
            run_out = run.out_dir
            super().train(run)

    p = params.validate({"data": {"dataset": "digits", "image_size": 32},
                         "train": {"libraries": ["reference"], "archs": ["linear"], "seeds": [0],
                                   "device": "cpu"}, "reference": {}})
    training.train(p, "reference", "linear", 0,
                   registry=Registry({"reference": Killed()}, {}, {}))
""")


def test_a_killed_run_leaves_no_artifact_that_looks_finished(project):
    done = subprocess.run([sys.executable, "-c", KILLED], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    staging = project / os.path.dirname(RUN) / ".seed0.partial"
    assert (staging / glossary.HISTORY).is_file()                     # it did write something
    assert not (project / RUN).exists()
    assert not list(project.rglob(glossary.METRICS))
    final = train()                                                    # a re-run cleans up and works
    assert sorted(os.listdir(final.parent)) == ["seed0"]


class WrongShape(ReferenceTrainer):
    def saved_probabilities(self, weights, x):
        return super().saved_probabilities(weights, x)[:, :2]


class Unnormalised(ReferenceTrainer):
    def saved_probabilities(self, weights, x):
        return np.exp(super().saved_probabilities(weights, x))


class NoTestProbs(ReferenceTrainer):
    def train(self, run):
        super().train(run)
        (run.out_dir / glossary.PROBS["test"]).unlink()


@pytest.mark.parametrize("trainer, message", [
    (WrongShape(), r"probs_\w+.npy has shape \(\d+, 2\), expected \(\d+, 3\)"),
    (Unnormalised(), "rows do not sum to 1"),
    (NoTestProbs(), "probs_test.npy was not written"),
])
def test_a_broken_contract_is_one_error_naming_the_plugin(project, trainer, message):
    with pytest.raises(UserError, match=f"^plugin 'reference' broke the run contract: .*{message}"):
        train(trainer)
    assert not (project / RUN).exists()


class SeesDevice(ReferenceTrainer):
    def __init__(self, gpus):
        self.gpus, self.device = gpus, None

    def gpu_count(self):
        return self.gpus

    def train(self, run):
        self.device = run.device
        super().train(run)


def test_device_choice(project, monkeypatch):
    trainer = SeesDevice(gpus=1)
    train(trainer, device="auto")
    assert trainer.device == "cuda:0"
    train(trainer, device="cpu")
    assert trainer.device == "cpu"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(UserError, match="train.device is cuda but no CUDA device is visible "
                                        r"\(CUDA_VISIBLE_DEVICES=''\)"):
        train(SeesDevice(gpus=0), device="cuda")


def test_plugin_params_reach_the_trainer_and_are_validated(project):
    final = train(section={"phase1": {"epochs": 1}, "phase2": {"epochs": 3, "lr": 0.05}})
    assert json.loads((final / glossary.METRICS).read_text())["epochs"] == 4
    with pytest.raises(UserError, match="invalid parameter reference.phase1.epochs: -1 is less than"):
        train(section={"phase1": {"epochs": -1}})
    with pytest.raises(UserError, match="library 'reference' has no architecture 'vgg16'"):
        training.train(make_params(), "reference", "vgg16", 0, registry=registry(ReferenceTrainer()))


def test_same_seed_same_probabilities(project):
    first = np.load(train() / glossary.PROBS["test"])
    assert np.array_equal(np.load(train() / glossary.PROBS["test"]), first)


def test_several_gpus_and_no_cuda_visible_devices_the_run_claims_a_free_one(project, monkeypatch):
    """`dlcompare train` on a machine with 3 (faked) GPUs, GPU 0 held by another job: GPU 1."""
    from dlcompare.host import gpus

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "machine_gpu_count", lambda: 3)
    monkeypatch.setattr(gpus, "_held", [])
    gpus.lock_dir().mkdir(parents=True)
    other = gpus._try_lock(gpus.lock_dir() / "gpu0.lock")   # another job holds GPU 0
    seen = []

    class SeesVisible(SeesDevice):
        def train(self, run):
            seen.append(os.environ.get("CUDA_VISIBLE_DEVICES"))
            super().train(run)

    lines = []
    train(SeesVisible(gpus=1), log=lines, device="auto")
    assert seen == ["1"]
    assert any("claimed GPU 1 of 3" in line for line in lines)
    assert any("training on cuda:0 (GPU 1)" in line for line in lines)
    other.close()
