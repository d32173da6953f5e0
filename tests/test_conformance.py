"""The conformance suite passes the reference trainer and fails each deliberately broken one on the
rule it breaks. Runs train in-process here (numpy only); the subprocess path is covered by
tests/test_third_party_plugin.py."""

import contextlib
import subprocess
import sys

import numpy as np
import pytest

from dlcompare import params as params_mod
from dlcompare.host import training
from dlcompare.conformance import runner
from dlcompare.conformance.reference import ReferenceTrainer
from dlcompare.errors import UserError
from dlcompare.host.plugins import Registry
from dlcompare.kit import ledger as ledger_mod


class Stopped(Exception):
    pass


def check(trainer, params=None, workdir=None):
    """check_plugin on ``trainer``, training in-process; returns (exit code, log lines)."""
    registry = Registry({"reference": trainer}, {"reference": "built-in"}, {})

    def launch(project, library, arch, seed, env=None, expect=0):
        """In this process; the simulated kill raises Stopped instead of ending pytest."""
        def stop(code):
            raise Stopped(code)

        with contextlib.chdir(project), pytest.MonkeyPatch.context() as mp:
            mp.setattr(ledger_mod, "stop", stop)
            for key, value in (env or {}).items():
                mp.setenv(key, value)
            try:
                training.train(params_mod.load(), library, arch, seed, log=lambda _: None,
                               registry=registry)
            except Stopped as exc:
                assert exc.args[0] == expect
                return
            except (UserError, RuntimeError) as exc:
                raise runner.Failure(str(exc)) from None
            if expect:
                raise runner.Failure("the run to be interrupted was not stopped")

    lines = []
    code = runner.check_plugin("reference", None, lines.append, params, launch, registry, workdir)
    return code, lines


def failed(lines):
    return {line.split()[1]: line for line in lines if line.startswith("FAIL")}


def test_the_reference_trainer_conforms():
    code, lines = check(ReferenceTrainer())
    assert code == 0, "\n".join(lines)
    assert [line.split()[1] for line in lines if line.startswith("ok")] == list(runner.CHECKS)
    assert lines[-1] == "reference/linear: conforms (8 checks passed)"


def test_phases_are_cut_to_one_epoch_through_the_params_section():
    params = {"reference": {"phase1": {"epochs": 5, "lr": 0.5}, "phase2": {"epochs": 7, "lr": 0.1}}}
    code, lines = check(ReferenceTrainer(), params)
    assert code == 0
    assert "phase1: 1 epoch(s), phase2: 1 epoch(s)" in next(l for l in lines if " history " in l)


class ReversedRows(ReferenceTrainer):
    def saved_probabilities(self, weights, x):
        return super().saved_probabilities(weights, x)[::-1]


class SortedByClass(ReferenceTrainer):
    """Evaluates images grouped by predicted class, as a class-folder loader would."""

    def saved_probabilities(self, weights, x):
        probs = super().saved_probabilities(weights, x)
        return probs[np.lexsort((probs[:, 0], probs.argmax(axis=1)))]


class Unseeded(ReferenceTrainer):
    def epoch_rng(self, run, step):
        return np.random.default_rng()


class OnePhase(ReferenceTrainer):
    def train(self, run):
        run.params = {**run.params, "phase1": {"epochs": 0, "lr": 0.5}}
        super().train(run)


class ForgetsState(ReferenceTrainer):
    """Checkpoints nothing of its model: a resumed run starts from fresh weights."""

    def load(self, path):
        return None


class StrayFiles(ReferenceTrainer):
    def train(self, run):
        super().train(run)
        with open("model.pkl", "w") as fh:        # into the working directory, not run.out_dir
            fh.write("weights")


class ClaimsGpu(ReferenceTrainer):
    def train(self, run):
        run.device = "cuda:0"
        super().train(run)


class Crashes(ReferenceTrainer):
    def train(self, run):
        raise RuntimeError("segfault in the data loader")


@pytest.mark.parametrize("trainer, broken, message", [
    (ReversedRows(), {"row_order", "reproducible"}, "does not hold the image in manifest row"),
    (SortedByClass(), {"row_order", "reproducible"}, "rows came back in the same order"),
    (Unseeded(), {"row_order", "reproducible", "resume"}, "trained differently"),
    (ForgetsState(), {"resume"}, "differs from the uninterrupted run"),
    (OnePhase(), {"history", "run_info"}, "has no phase1 rows"),
    (StrayFiles(), {"no_stray_files"}, "left files outside its run directory: model.pkl"),
    (ClaimsGpu(), {"run_info"}, "device is 'cuda:0' but train.device was cpu"),
])
def test_each_broken_trainer_fails_its_rule(trainer, broken, message, tmp_path):
    code, lines = check(trainer, workdir=tmp_path)
    assert code == 1
    assert set(failed(lines)) == broken, "\n".join(lines)
    assert any(message in line for line in failed(lines).values()), "\n".join(lines)
    assert "checks failed" in lines[-1] and "work dir kept" in lines[-1]


def test_a_trainer_that_cannot_train_fails_with_the_reason(tmp_path):
    code, lines = check(Crashes(), workdir=tmp_path)
    assert code == 1
    assert "segfault in the data loader" in failed(lines)["trains"]


@pytest.mark.slow   # a fresh pytest process importing scikit-learn: seconds on a busy machine
def test_the_pytest_form_needs_a_plugin_name(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--pyargs", "dlcompare.conformance"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert "name the plugin to check: DLCOMPARE_CHECK_PLUGIN=NAME" in out.stdout
