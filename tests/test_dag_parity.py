"""Snakemake and DVC must run the same stages: names, commands, inputs, outputs, params."""

import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from conftest import ROOT, exe


def _jobs(root: Path, *extra_args) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/dag_jobs.py"), str(root), *extra_args],
                         capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _covered(path: str, deps: list[str]) -> bool:
    p = PurePosixPath(path)
    return any(p == PurePosixPath(d) or PurePosixPath(d) in p.parents for d in deps)


def assert_same_dag(jobs: dict) -> None:
    smk = {j["name"]: j for j in jobs["snakemake"]}
    dvc = {j["name"]: j for j in jobs["dvc"]}
    assert sorted(smk) == sorted(dvc), "stage names differ"
    for name in smk:
        s, d = smk[name], dvc[name]
        assert s["cmd"] == d["cmd"], name
        assert s["outputs"] == d["outputs"], name
        assert s["params"] == d["params"], name
        # DVC cannot expand a product in deps, so it may name a directory holding Snakemake's files.
        assert all(_covered(f, d["inputs"]) for f in s["inputs"]), name
        assert all(any(_covered(f, [dep]) for f in s["inputs"]) for dep in d["inputs"]), name


def test_snakemake_and_dvc_agree_on_the_default_profile():
    jobs = _jobs(ROOT)
    assert_same_dag(jobs)
    names = {j["name"] for j in jobs["dvc"]}
    assert {"download", "clean", "split", "report", "train@torch-resnet18-0", "train@keras-resnet18-1",
            "settings@fastai", "settings_variant@keras_onecycle", "train_variant@keras_onecycle-resnet18-0",
            "train_variant@keras_onecycle-resnet18-1"} <= names


def test_training_depends_on_every_train_setting_that_can_change_a_result():
    """A training job reruns when train.* other than its matrix changes, except checkpoint_every
    (which epochs are checkpointed changes no result: tests/test_ledger.py)."""
    import yaml

    schema = yaml.safe_load((ROOT / "workflow/dlcompare/schemas/params.schema.yaml").read_text())
    keys = set(schema["properties"]["train"]["properties"])
    expected = {f"train.{k}" for k in keys - {"libraries", "variants", "archs", "seeds", "checkpoint_every"}}
    for job in _jobs(ROOT)["dvc"]:
        if job["name"].startswith(("train@", "train_variant@")):
            assert set(job["params"]) == expected, job["name"]


def job_counts(stdout: str) -> dict:
    """`snakemake -n --quiet rules` prints a 'job count' table; rule name -> jobs."""
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def test_the_thesis_profile_and_its_ablations_list_the_expected_jobs(project):
    """Table 4.1 (3 libraries x 6 models x 3 seeds) and, with the overlay, 4 variants beside it."""
    thesis = subprocess.run([exe("snakemake"), "-n", "--quiet", "rules", "--configfile", "configs/thesis.yaml"],
                            cwd=project, capture_output=True, text=True)
    assert thesis.returncode == 0, thesis.stdout + thesis.stderr
    counts = job_counts(thesis.stdout)
    assert (counts["train"], counts["settings"], counts.get("train_variant", 0)) == (54, 3, 0), counts
    both = subprocess.run([exe("snakemake"), "-n", "--quiet", "rules", "--configfile", "configs/thesis.yaml",
                           "configs/thesis-ablations.yaml"], cwd=project, capture_output=True, text=True)
    assert both.returncode == 0, both.stdout + both.stderr
    counts = job_counts(both.stdout)
    assert (counts["train"], counts["train_variant"], counts["settings_variant"]) == (54, 72, 4), counts


def test_parity_holds_for_other_matrices(project):
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("archs: [resnet18]", "archs: [resnet18, vgg16]")
                      .replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    jobs = _jobs(project)
    assert_same_dag(jobs)
    assert sum(j["name"].startswith("train@") for j in jobs["snakemake"]) == 3 * 2 * 3


def test_parity_checker_catches_a_drift(project):
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("cmd: dlcompare clean", "cmd: dlcompare clean --set data.min_images_per_class=1"))
    with pytest.raises(AssertionError):
        assert_same_dag(_jobs(project))


def test_snakemake_lint_is_clean():
    out = subprocess.run([exe("snakemake"), "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_snakemake_rejects_bad_params_in_one_line(project):
    out = subprocess.run([exe("snakemake"), "-n", "--config", "data={'dataset': 'nope'}"],
                         cwd=project, capture_output=True, text=True)
    assert out.returncode != 0
    assert "invalid parameter data.dataset: 'nope' is not one of" in out.stdout + out.stderr


def test_snakemake_rejects_unknown_architectures_and_broken_params_files_in_one_line(project):
    """vgg17 passed `snakemake -n` and failed after download, clean and split."""
    out = subprocess.run([exe("snakemake"), "-n", "--config", "train={'archs': ['resnet18', 'vgg17']}"],
                         cwd=project, capture_output=True, text=True)
    assert out.returncode != 0
    assert ("train.archs: library 'torch' has no architecture 'vgg17' (it has: vgg16, vgg19, resnet50, "
            "resnet101, densenet121, densenet169, resnet18); fix train.archs") in out.stdout + out.stderr
    params = project / "params.yaml"
    params.write_bytes(params.read_bytes() + "# café\n".encode("latin-1"))
    out = subprocess.run([exe("snakemake"), "-n"], cwd=project, capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stdout + out.stderr
    assert "params.yaml: not UTF-8 text (byte 0xe9 at offset" in out.stdout + out.stderr


def test_snakemake_passes_configfile_and_config_to_the_cli(project):
    out = subprocess.run([exe("snakemake"), "-n", "-p", "--forceall", "--configfile", "configs/thesis.yaml",
                          "--config", "train={'seeds': [7]}", "--", "data/raw"],
                         cwd=project, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "dlcompare download --params params.yaml --params configs/thesis.yaml --set 'train.seeds=[7]'" in out.stdout


def test_thesis_profile_lists_every_job(project):
    out = subprocess.run([exe("snakemake"), "--configfile", "configs/thesis.yaml", "--cores", "8",
                          "--resources", "gpu=1", "-n", "--quiet", "rules"], cwd=project, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    counts = dict(line.split() for line in out.stdout.splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts["train"] == "54"          # 3 libraries x 6 architectures x 3 seeds
    assert counts["report"] == "1" and counts["download"] == "1"
