"""The run contract: what the Run helpers write, and check_artifacts catching each way to break it."""

import csv
import json

import numpy as np
import pytest

from dlcompare.host import contract
from dlcompare import testing
from dlcompare.glossary import HISTORY, HISTORY_COLUMNS, PROBS, RUN_INFO

N_VALID, N_TEST, K = 18, 12, 3

INFO = {"library_version": "1.0", "versions": {"lib": "1.0"}, "param_count": 579,
        "phase_seconds": {"phase1": 1.5, "phase2": 2.0},
        "images_per_second": {"train": 100.0, "inference": 400.0}, "peak_memory_mb": None}
HISTORY_ROWS = [
    {"epoch": 1, "phase": "phase1", "train_loss": 1.1, "valid_loss": 1.0, "valid_accuracy": 0.5, "seconds": 0.7},
    {"epoch": 2, "phase": "phase1", "train_loss": 0.9, "valid_loss": 0.8, "valid_accuracy": 0.6, "seconds": 0.8},
    {"epoch": 1, "phase": "phase2", "train_loss": 0.5, "valid_loss": 0.6, "valid_accuracy": 0.7, "seconds": 2.0},
]


@pytest.fixture
def run(tmp_path):
    split_dir = testing.make_split(tmp_path, n_classes=K, sizes=(48, N_VALID, N_TEST))
    out = tmp_path / "out"
    out.mkdir()
    return contract.Run(library="lib", arch="resnet18", seed=3, device="cpu", pretrained="none",
                        image_size=32, batch_size=16, threads=1, classes=["class_0", "class_1", "class_2"],
                        split_dir=split_dir, out_dir=out, checkpoint_dir=tmp_path / "ckpt", params={})


def softmax_rows(n, seed=0):
    z = np.random.default_rng(seed).normal(size=(n, K))
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


@pytest.fixture
def good(run):
    run.save_history(HISTORY_ROWS)
    run.save_probabilities("valid", softmax_rows(N_VALID))
    run.save_probabilities("test", softmax_rows(N_TEST, 1))
    run.save_info(INFO)
    return run


def check(run):
    return contract.check_artifacts(run.out_dir, run.split_dir, K,
                                    expect={"library": "lib", "arch": "resnet18", "seed": 3})


def test_helpers_write_the_documented_formats(good):
    info = check(good)
    assert info == {"library": "lib", "arch": "resnet18", "seed": 3, "device": "cpu", **INFO}
    with open(good.out_dir / HISTORY, newline="") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == HISTORY_COLUMNS
        assert next(reader) == ["1", "phase1", "1.1", "1.0", "0.5", "0.7"]
    probs = np.load(good.out_dir / PROBS["valid"])
    assert probs.dtype == np.float32 and probs.shape == (N_VALID, K)
    assert sorted(p.name for p in good.out_dir.iterdir()) == sorted([HISTORY, RUN_INFO, *PROBS.values()])


def test_load_returns_manifest_order(run):
    images, labels = run.load("valid")
    assert images.shape == (N_VALID, 32, 32, 3) and images.dtype == np.uint8
    with open(run.split_dir / "manifest.csv", newline="") as fh:
        manifest = [r["label"] for r in csv.DictReader(fh) if r["split"] == "valid"]
    assert [run.classes[k] for k in labels] == manifest


def overwrite_probs(run, split, probs):
    np.save(run.out_dir / PROBS[split], probs)


def edit_info(run, **changes):
    info = json.loads((run.out_dir / RUN_INFO).read_text())
    info.update(changes)
    for key in [k for k, v in changes.items() if v is ...]:
        del info[key]
    (run.out_dir / RUN_INFO).write_text(json.dumps(info))


def edit_history(run, rows, columns=HISTORY_COLUMNS):
    with open(run.out_dir / HISTORY, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


BREAKAGES = {
    "missing file": (lambda r: (r.out_dir / PROBS["test"]).unlink(), "probs_test.npy was not written"),
    "wrong shape": (lambda r: overwrite_probs(r, "valid", softmax_rows(N_VALID)[:, :2]),
                    r"probs_valid.npy has shape \(18, 2\), expected \(18, 3\)"),
    "too few rows": (lambda r: overwrite_probs(r, "test", softmax_rows(N_TEST - 1)),
                     r"probs_test.npy has shape \(11, 3\)"),
    "logits": (lambda r: overwrite_probs(r, "valid", softmax_rows(N_VALID) * 3),
               "rows do not sum to 1 .* not logits"),
    "negative": (lambda r: overwrite_probs(r, "valid", softmax_rows(N_VALID) * [1, -1, 1]),
                 "negative or non-finite"),
    "nan": (lambda r: overwrite_probs(r, "test", np.full((N_TEST, K), np.nan)), "negative or non-finite"),
    "integer probs": (lambda r: overwrite_probs(r, "test", np.eye(K, dtype=int)[np.zeros(N_TEST, int)]),
                      "dtype int"),
    "history columns": (lambda r: edit_history(r, HISTORY_ROWS, ("phase", "epoch", "train_loss",
                                                                  "valid_loss", "valid_accuracy", "seconds")),
                        "history.csv columns"),
    "unknown phase": (lambda r: edit_history(r, [{**HISTORY_ROWS[0], "phase": "finetune"}]),
                      "unknown phase 'finetune'"),
    "phase order": (lambda r: edit_history(r, HISTORY_ROWS[2:] + HISTORY_ROWS[:1]),
                    "phase1 comes after a later phase"),
    "epoch numbering": (lambda r: edit_history(r, HISTORY_ROWS[1:]), "epoch '2', expected 1"),
    "nan loss": (lambda r: edit_history(r, [{**HISTORY_ROWS[0], "valid_loss": "nan"}]),
                 "valid_loss is 'nan'"),
    "accuracy in percent": (lambda r: edit_history(r, [{**HISTORY_ROWS[0], "valid_accuracy": 50}]),
                            "valid_accuracy 50 is above 1"),
    "missing key": (lambda r: edit_info(r, param_count=..., versions=...), "run.json lacks versions, param_count"),
    "phase seconds": (lambda r: edit_info(r, phase_seconds={"phase1": 1.0}),
                      "phase_seconds must be an object with keys phase1, phase2"),
    "param count": (lambda r: edit_info(r, param_count=0), "param_count must be a positive integer"),
    "wrong library": (lambda r: edit_info(r, library="other"), "library is 'other', expected 'lib'"),
    "not json": (lambda r: (r.out_dir / RUN_INFO).write_text("{"), "run.json is not valid JSON"),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_check_artifacts_names_the_problem(good, name):
    breakage, message = BREAKAGES[name]
    check(good)
    breakage(good)
    with pytest.raises(contract.ArtifactError, match=message):
        check(good)


def test_a_phase_with_zero_epochs_is_allowed(good):
    edit_history(good, HISTORY_ROWS[2:])
    check(good)
