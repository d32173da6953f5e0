"""Metrics from saved probabilities, checked against numbers worked out by hand."""

import json
import math

import numpy as np
import pytest

from dlcompare import cli, glossary, testing
from dlcompare.host import contract, evaluate
from dlcompare.errors import UserError

# 4 images, 2 classes. Predictions: 0, 1, 1, 1 -> one mistake (image 1, true class 0).
PROBS = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
LABELS = np.array([0, 0, 1, 1])


def test_metrics_by_hand():
    m = evaluate.split_metrics(PROBS, LABELS, ["benign", "malignant"])
    assert m["n"] == 4
    assert m["accuracy"] == 0.75
    assert m["loss"] == pytest.approx(-(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.7)) / 4)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 2) / 2)          # mean recall
    # F1: benign precision 1, recall 1/2 -> 2/3; malignant precision 2/3, recall 1 -> 4/5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["recall"] == {"benign": 0.5, "malignant": 1.0}
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]                            # rows: true class


def test_a_class_absent_from_the_split_still_has_its_row_and_column():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    m = evaluate.split_metrics(probs, np.array([0, 1]), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert m["recall"] == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert m["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.8)) / 2)


def test_float32_rows_are_renormalised_not_rejected():
    """float32 softmax rows can sum to 1 + 1e-7 and hold values a hair above 1."""
    probs = np.array([[1.0000001, 0.0], [0.25, 0.75]], dtype=np.float32)
    m = evaluate.split_metrics(probs, np.array([0, 1]), ["a", "b"])
    assert m["accuracy"] == 1.0 and m["loss"] == pytest.approx(-math.log(0.75) / 2, abs=1e-6)


def write_run(run_dir, split_dir, valid_probs, test_probs):
    classes = json.loads((split_dir / glossary.CLASSES).read_text())
    run = contract.Run(library="lib", arch="resnet18", seed=0, device="cpu", pretrained="none",
                       image_size=32, batch_size=4, threads=1, classes=classes, split_dir=split_dir,
                       out_dir=run_dir, checkpoint_dir=run_dir / "ckpt", params={})
    run_dir.mkdir(parents=True)
    run.save_history([{"epoch": 1, "phase": p, "train_loss": 1, "valid_loss": 1,
                       "valid_accuracy": 0.5, "seconds": 1} for p in glossary.PHASES])
    run.save_probabilities("valid", valid_probs)
    run.save_probabilities("test", test_probs)
    run.save_info({"library_version": "1", "versions": {}, "param_count": 10,
                   "phase_seconds": {"phase1": 2.0, "phase2": 3.5},
                   "images_per_second": {"train": 1.0, "inference": 1.0}, "peak_memory_mb": 1.0})


def test_evaluate_run_and_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    split_dir = testing.make_split(tmp_path, n_classes=2, sizes=(4, 4, 2))
    labels = np.load(split_dir / "cache/valid_labels.npy")
    valid = np.where(labels[:, None] == [0, 1], 0.8, 0.2)            # all right, p=0.8
    test = np.array([[0.3, 0.7], [0.6, 0.4]])                          # labels 0, 1: both wrong
    run_dir = tmp_path / glossary.run_dir(glossary.RESULTS_DIR, "lib", "resnet18", 0)
    write_run(run_dir, split_dir, valid, test)

    result = evaluate.evaluate_run(run_dir, split_dir)
    assert result["valid"]["accuracy"] == 1.0 and result["test"]["accuracy"] == 0.0
    assert result["valid"]["loss"] == pytest.approx(-math.log(0.8))
    assert result["test"]["loss"] == pytest.approx(-(math.log(0.3) + math.log(0.4)) / 2)
    assert result["epochs"] == 2
    assert not [k for k in json.dumps(result).split('"') if "second" in k]   # no timings: dvc metrics diff stays quiet
    assert (result["library"], result["arch"], result["seed"]) == ("lib", "resnet18", 0)

    (tmp_path / "params.yaml").write_text(
        "data: {dataset: digits, image_size: 32}\n"
        "train: {libraries: [torch], archs: [resnet18], seeds: [0]}\ntorch: {}\n")
    assert cli.main(["evaluate", str(run_dir)]) == 0
    assert json.loads((run_dir / glossary.METRICS).read_text()) == json.loads(json.dumps(result))
    assert "valid accuracy 1.0000, test accuracy 0.0000" in capsys.readouterr().out

    (run_dir / glossary.PROBS["test"]).unlink()
    with pytest.raises(UserError, match="probs_test.npy was not written"):
        evaluate.write_metrics(run_dir, split_dir)
    assert cli.main(["evaluate", str(run_dir)]) == 2
    assert "probs_test.npy was not written" in capsys.readouterr().err
