"""The CLI: help for every stage, one-line errors for user mistakes (exit 2, no traceback)."""

import subprocess

import pytest

from dlcompare.cli import main

from conftest import exe

STAGES = ["download", "clean", "split", "train", "evaluate", "plugins", "check-plugin", "report"]


def test_top_level_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for stage in STAGES:
        assert stage in out


@pytest.mark.parametrize("stage", STAGES)
def test_stage_help_explains_params_and_overrides(stage, capsys):
    with pytest.raises(SystemExit):
        main([stage, "--help"])
    out = capsys.readouterr().out
    assert "--params FILE" in out and "--set KEY.PATH=VALUE" in out


def test_bad_override_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("data: {dataset: digits, image_size: 32}\n"
                                          "train: {libraries: [torch], archs: [resnet18], seeds: [0]}\ntorch: {}\n")
    out = subprocess.run([exe("dlcompare"), "split", "--set", "data.valid_fraction=2"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dlcompare split: error: invalid parameter data.valid_fraction: 2 is greater than or equal to "
        "the maximum of 1"]


def test_missing_params_file_is_one_line(tmp_path):
    out = subprocess.run([exe("dlcompare"), "clean"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "dlcompare clean: error: params file not found: params.yaml"


# --- issue 14: errors found late, paths in the way, unwritable folders -----------------------

def _project(tmp_path, archs="[resnet18]"):
    (tmp_path / "params.yaml").write_text(
        "data: {dataset: digits, image_size: 32}\n"
        f"train: {{libraries: [torch], archs: {archs}, seeds: [0]}}\ntorch: {{}}\n")


def test_unknown_architecture_fails_before_download(tmp_path):
    """train.archs: [vgg17] passed validation, then failed after download, clean and split."""
    _project(tmp_path, "[resnet18, vgg17]")
    out = subprocess.run([exe("dlcompare"), "download"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dlcompare download: error: train.archs: library 'torch' has no architecture 'vgg17' (it has: "
        "vgg16, vgg19, resnet50, resnet101, densenet121, densenet169, resnet18); fix train.archs"]
    assert not (tmp_path / "data").exists()
    out = subprocess.run([exe("dlcompare"), "split", "--set", "train.libraries=[torhc]", "--set", "torhc={}"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith(
        "dlcompare split: error: train.libraries: no plugin provides library 'torhc' (installed: ")
    assert len(out.stderr.strip().splitlines()) == 1


def test_file_system_refusals_are_one_line(tmp_path, monkeypatch, capsys):
    """read-only results/ at train was a PermissionError traceback."""
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "results/runs/torch/resnet18/.seed0.partial")
    monkeypatch.setattr("dlcompare.host.training.train", refuse)
    assert main(["train", "--library", "torch", "--arch", "resnet18", "--seed", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "dlcompare train: error: Permission denied: results/runs/torch/resnet18/.seed0.partial "
        "(make it (and its folder) writable, e.g. chmod -R u+w, or run elsewhere)"]
