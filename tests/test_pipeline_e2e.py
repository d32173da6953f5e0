"""End to end through both front doors on the embedded digits dataset (slow: real training).

- Snakemake runs the whole DAG (three libraries and a variant), a second run does nothing, a
  changed variant reruns only its own jobs, `dvc commit` adopts the outputs so `dvc repro` trains
  nothing either (one workspace, both tools).
- `dvc repro` alone runs the same stages; its second run re-resolves the settings (DVC cannot see
  a plugin's version) and runs nothing else.
- With a broken library, `snakemake --keep-going` still ends with a memoir.
"""

import json
import subprocess

import pytest
import yaml

from conftest import exe

pytestmark = pytest.mark.slow


def tiny_profile(project, libraries=("torch", "fastai", "keras"), extra=None, variants=()):
    path = project / "params.yaml"
    p = yaml.safe_load(path.read_text())
    p["train"].update({"libraries": list(libraries), "variants": list(variants), "seeds": [0], "threads": 2})
    for lib in ("torch", "fastai", "keras"):
        p[lib]["phase1"]["epochs"] = 1
        p[lib]["phase2"]["epochs"] = 1
    p.update(extra or {})
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return p


# A cheap variant (torch's recipe with one more phase-2 epoch) to exercise the entry plumbing.
TORCH_LONGER = {"variants": {"torch_longer": {"library": "torch", "params": {"phase2": {"epochs": 2}}}}}


def ran_stages(stdout: str) -> set[str]:
    return {line.split("'")[1] for line in stdout.splitlines() if line.startswith("Running stage '")}


def run(cmd, cwd, env, check=True):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def test_snakemake_then_dvc_on_one_workspace(project, venv_env):
    p = tiny_profile(project, variants=("torch_longer",), extra=TORCH_LONGER)
    run([exe("snakemake"), "--cores", "2", "--resources", "gpu=0"], project, venv_env)
    for entry in p["train"]["libraries"] + ["torch_longer"]:
        metrics = json.loads((project / f"results/runs/{entry}/resnet18/seed0/metrics.json").read_text())
        assert metrics["valid"]["n"] > 0 and 0 <= metrics["valid"]["accuracy"] <= 1
    info = json.loads((project / "results/runs/torch_longer/resnet18/seed0/run.json").read_text())
    assert (info["library"], info["entry"], info["variant"]) == ("torch", "torch_longer", "torch_longer")
    assert info["params"]["phase2"]["epochs"] == 2 and info["params"]["optimizer"] == "adamw"
    assert "torch_longer" in (project / "reports/build/memoir.html").read_text()
    assert (project / "reports/build/memoir.tex").is_file()

    again = run([exe("snakemake"), "--cores", "2", "--resources", "gpu=0"], project, venv_env)
    assert "Nothing to be done" in again.stdout + again.stderr

    # A changed overlay reruns exactly that variant's settings and runs (and the memoir).
    changed = yaml.safe_load((project / "params.yaml").read_text())
    changed["variants"]["torch_longer"]["params"]["phase2"]["epochs"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
    plan = run([exe("snakemake"), "-n", "--quiet", "rules"], project, venv_env).stdout
    assert "settings_variant" in plan and "train_variant" in plan and "report" in plan, plan
    assert not any(line.split()[:1] in (["train"], ["settings"]) for line in plan.splitlines()), plan
    (project / "params.yaml").write_text(yaml.safe_dump(p | TORCH_LONGER, sort_keys=False))

    run([exe("dvc"), "commit", "--force"], project, venv_env)
    mtime = (project / "results/runs/torch/resnet18/seed0/metrics.json").stat().st_mtime_ns
    repro = run([exe("dvc"), "repro"], project, venv_env)
    assert ran_stages(repro.stdout) <= {f"settings@{e}" for e in p["train"]["libraries"]} | {
        "settings_variant@torch_longer"}, repro.stdout
    assert (project / "results/runs/torch/resnet18/seed0/metrics.json").stat().st_mtime_ns == mtime


def test_dvc_repro_alone_and_second_run_does_nothing(project, venv_env):
    tiny_profile(project, libraries=("torch",), variants=("torch_longer",), extra=TORCH_LONGER)
    first = run([exe("dvc"), "repro"], project, venv_env)
    for stage in ("download", "clean", "split", "settings@torch", "settings_variant@torch_longer",
                  "train@torch-resnet18-0", "train_variant@torch_longer-resnet18-0", "report"):
        assert f"Running stage '{stage}'" in first.stdout
    assert (project / "reports/build/memoir.html").is_file()
    info = json.loads((project / "results/runs/torch_longer/resnet18/seed0/run.json").read_text())
    assert info["variant"] == "torch_longer" and info["params"]["phase2"]["epochs"] == 2
    second = run([exe("dvc"), "repro"], project, venv_env)
    # always_changed: the settings re-resolve (DVC cannot see a plugin's version); nothing else runs
    assert ran_stages(second.stdout) == {"settings@torch", "settings_variant@torch_longer"}, second.stdout
    assert "didn't change, skipping" in second.stdout
    shown = run([exe("dvc"), "metrics", "show", "--json"], project, venv_env)
    assert "results/runs/torch/resnet18/seed0/metrics.json" in shown.stdout
    assert "results/runs/torch_longer/resnet18/seed0/metrics.json" in shown.stdout


def test_an_unknown_library_stops_before_any_job(project, venv_env):
    tiny_profile(project, libraries=("torch", "nosuchlib"), extra={"nosuchlib": {}})
    out = run([exe("snakemake"), "--cores", "2", "--keep-going"], project, venv_env, check=False)
    assert out.returncode != 0
    assert "train.libraries: no plugin provides library 'nosuchlib'" in out.stdout + out.stderr
    assert not (project / "data").exists()          # found before download, clean and split


def test_keep_going_still_yields_a_memoir(project, venv_env):
    tiny_profile(project, libraries=("torch", "keras"))
    (project / "results/checkpoints").mkdir(parents=True)   # not an output: Snakemake plans as usual
    (project / "results/checkpoints/keras").write_text("a file where keras's resume state goes: its job fails")
    out = run([exe("snakemake"), "--cores", "2", "--keep-going"], project, venv_env, check=False)
    assert out.returncode != 0
    assert (project / "results/runs/torch/resnet18/seed0/metrics.json").is_file()
    html = (project / "reports/build/memoir.html").read_text()
    assert "1 of 2 expected runs" in html and "keras" in html
