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
