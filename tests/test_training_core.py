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
from dlcompare.host import entries, training
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


def train(trainer=None, log=None, fresh=False, **kw):
    lines = [] if log is None else log
    return training.train(make_params(**kw), "reference", "linear", 0, log=lines.append,
                          registry=registry(trainer or ReferenceTrainer()), fresh=fresh)


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
    # the core records the machine the run trained on, whatever the plugin wrote
    host = json.loads((final / glossary.RUN_INFO).read_text())["host"]
    assert host["cores"] == os.cpu_count() and host["threads_per_job"] and host["cpu"] and host["os"]
    assert "cpu_isa" in host


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
    # kept for the next attempt: the end of phase 1 (phase 2's first epoch came before
    # train.checkpoint_every's 60 s had passed, so it was not checkpointed)
    assert sorted(os.listdir(CHECKPOINT)) == ["phase1-epoch2.ckpt", "state.json"]

    log = []
    resumed = train(CrashAfter(99), log=log)
    assert "reference/linear/seed0: resuming after phase1 epoch 2" in log
    assert sum(" epoch " in line and "resuming" not in line for line in log) == 2   # phase 2 ran again
    assert not os.path.exists(CHECKPOINT)
    resumed_metrics = json.loads((resumed / glossary.METRICS).read_text())
    history = (resumed / glossary.HISTORY).read_text().splitlines()
    assert [h.split(",")[:2] for h in history[1:]] == [["1", "phase1"], ["2", "phase1"],
                                                       ["1", "phase2"], ["2", "phase2"]]
    # resuming gives the very run an uninterrupted attempt gives (timings aside)
    shutil.rmtree(RUN)
    straight = json.loads((train() / glossary.METRICS).read_text())
    assert [straight[s] for s in glossary.EVAL_SPLITS] == [resumed_metrics[s] for s in glossary.EVAL_SPLITS]


def test_fresh_discards_the_checkpoint(project):
    with pytest.raises(RuntimeError, match="out of memory"):
        train(CrashAfter(3))
    log = []
    train(fresh=True, log=log)
    assert not any("resuming" in line for line in log)
    assert sum(" epoch " in line for line in log) == 4


def test_a_damaged_checkpoint_is_one_error_naming_it(project):
    with pytest.raises(RuntimeError, match="out of memory"):
        train(CrashAfter(3))
    payload = project / CHECKPOINT / "phase1-epoch2.ckpt"
    payload.write_bytes(b"garbage")
    with pytest.raises(UserError, match=f"^checkpoint {CHECKPOINT}/phase1-epoch2.ckpt is damaged "
                                        r"\(sha256 mismatch\).*dlcompare train --fresh"):
        train()
    assert payload.exists() and not (project / RUN).exists()
    train(fresh=True)


def test_a_second_train_of_the_same_run_names_the_holder(project):
    with training.run_lock(project / CHECKPOINT, "reference/linear/seed0"):
        with pytest.raises(UserError, match=f"^run reference/linear/seed0 is already being trained "
                                            f"by PID {os.getpid()} on "):
            train()
    train()                                          # released: the run trains
    assert not (project / f"{CHECKPOINT}.lock").exists()


def test_run_json_records_the_resolved_params_and_the_plugin_version(project):
    info = json.loads((train(section={"phase2": {"epochs": 1}}) / glossary.RUN_INFO).read_text())
    assert info["params"] == {"phase1": {"epochs": 2, "lr": 0.5}, "phase2": {"epochs": 1, "lr": 0.1}}
    assert info["plugin_version"] == "built-in"
    assert entries.plugin_version(Registry({}, {"x": "dlcompare-x 1.2.3"}, {}), "x") == "1.2.3"


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
        def train(self, run):
            write = run.save_history

            def write_then_die(rows):    # history.csv is written: die like a SIGKILLed job
                write(rows)
                os.kill(os.getpid(), signal.SIGKILL)

            run.save_history = write_then_die
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


# --- issue 14: what a run trained on; corrupt state in the way ---------------------------------

def test_run_json_records_what_it_was_trained_on(project):
    from dlcompare.host import provenance

    final = train()
    info = json.loads((final / glossary.RUN_INFO).read_text())
    section = entries.resolved_params(make_params(), "reference", registry(ReferenceTrainer()))
    expected = provenance.trained_on(make_params(), section, glossary.SPLIT_DIR)
    assert info["trained_on"] == expected
    assert expected["classes"] == ["class_0", "class_1", "class_2"]
    assert len(expected["manifest_sha256"]) == 64 and len(expected["params_fingerprint"]) == 64
    # the matrix keys name a run, they do not change it; anything else does
    assert provenance.params_fingerprint(make_params(seeds=[0, 5]), section) == expected["params_fingerprint"]
    assert provenance.params_fingerprint(make_params(batch_size=8), section) != expected["params_fingerprint"]
    assert provenance.params_fingerprint(make_params(), {"lr": 1}) != expected["params_fingerprint"]


def test_a_plain_file_where_the_staging_folder_goes_is_replaced(project):
    """A file at .seed<k>.partial gave FileExistsError."""
    staging = project / os.path.dirname(RUN) / ".seed0.partial"
    staging.parent.mkdir(parents=True)
    staging.write_text("junk")
    final = train()
    assert sorted(os.listdir(final.parent)) == ["seed0"]


def test_a_truncated_split_cache_is_one_line_naming_the_stage(project):
    """A truncated cache file was a numpy mmap ValueError at train."""
    images = project / glossary.SPLIT_DIR / "cache" / "train_images.npy"
    images.write_bytes(images.read_bytes()[:200])
    with pytest.raises(UserError) as err:
        train()
    assert str(err.value).startswith("split cache data/split/cache (train) is truncated or corrupt (")
    assert str(err.value).endswith("run `dlcompare split` again (snakemake: --forcerun split)")
    assert "\n" not in str(err.value)


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


def test_vector_isa_names_the_widest_extension():
    """run.json's host.cpu_isa: TensorFlow's and PyTorch's CPU kernels choose their path by it."""
    from dlcompare.host.machine import vector_isa

    assert vector_isa({"sse2", "avx", "avx2", "avx512f", "avx512_bf16"}) == "AVX-512/BF16"
    assert vector_isa({"avx", "avx2", "fma"}) == "AVX2"
    assert vector_isa({"fp", "asimd"}) == "NEON"
    assert vector_isa({"sse2"}) is None
