"""The pipeline through Snakemake's SLURM executor against real daemons (slow; root; Debian's
slurmctld, slurmd, slurm-client and munge). `.ci/run` installs them and sets
DLCOMPARE_REQUIRE_SLURM=1, so there a missing cluster fails instead of skipping.

One node with one (fake) GPU. The project's own slurm profile runs with what the README tells a
user to set (partition, account, memory) plus two settings for a cluster without accounting
(`squeue` for job status, a short first status check). It checks that every stage ran as an
sbatch job, that training jobs asked for one GPU each and never ran two at once on it, that a
training job killed after its first checkpoint is resubmitted and resumes there, that the memoir
is rendered, and that a second invocation submits nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

import slurm_cluster
from conftest import exe
from test_pipeline_e2e import tiny_profile

pytestmark = pytest.mark.slow

RUN_LIMIT_S = 900          # `timeout -k` bound of one snakemake invocation (see the README for measured times)
STATUS_DELAY_S = 5         # first status check; the cluster's MinJobAge is 12 times that
KILLED_SEED = 1

# Imported by every Python process of the run (PYTHONPATH): only `dlcompare train ... --seed 1`
# acts. It SIGKILLs itself once its first checkpoint exists, as a preempted job dies, and leaves a
# marker so the resubmitted attempt runs through.
KILL_ONCE = """\
import os, signal, threading, time
from pathlib import Path

argv = Path("/proc/self/cmdline").read_bytes().split(b"\\0")
marker = Path(os.environ["DLCOMPARE_TEST_KILL_MARKER"])
if b"train" in argv and b"--seed" in argv and argv[argv.index(b"--seed") + 1] == b"%(seed)d" \\
        and not marker.exists():
    def watch():
        folder = Path("results/checkpoints/torch/resnet18/seed%(seed)d")
        while not (folder / "state.json").is_file():   # the Ledger writes it last: a whole checkpoint
            time.sleep(0.05)
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, daemon=True).start()
""" % {"seed": KILLED_SEED}


@pytest.fixture
def slurm(tmp_path_factory):
    why = slurm_cluster.missing()
    if why:
        if os.environ.get("DLCOMPARE_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM test cluster unavailable: {why}")
        pytest.skip(f"SLURM test cluster unavailable: {why}")
    with slurm_cluster.cluster(tmp_path_factory.mktemp("slurm"), min_job_age=12 * STATUS_DELAY_S) as root:
        yield root


def user_profile(project: Path) -> None:
    """What the README says to set in workflow/profiles/slurm/config.yaml for one's own cluster,
    with this node's values (2 CPUs, one fake GPU, no accounts)."""
    path = project / "workflow/profiles/slurm/config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["slurm-no-account"] = True
    profile["default-resources"].update({"slurm_partition": f"'{slurm_cluster.PARTITION}'", "mem_mb": 1000})
    profile["set-resources"]["split"]["mem_mb"] = 2000
    profile["set-resources"]["train"].update({"mem_mb": 3000, "runtime": 20,
                                              "gpu": 1})   # as train.device: cuda requests
    path.write_text(yaml.safe_dump(profile, sort_keys=False))


class GpuWatch(threading.Thread):
    """Polls squeue: the largest number of running jobs holding a GPU at one time, and which jobs
    asked for one."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.most, self.gpu_jobs = threading.Event(), 0, set()

    def run(self):
        while not self.stop.is_set():
            jobs = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
            running = 0
            for line in jobs.splitlines():
                jobid, state = line.split()
                shown = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True).stdout
                if re.search(r"TresPerJob=\S*gpu:1", shown):      # sbatch --gpus=1
                    self.gpu_jobs.add(jobid)
                    running += state == "RUNNING"
            self.most = max(self.most, running)
            time.sleep(0.5)


def snakemake(project, env, *extra):
    cmd = ["timeout", "-k", "20", str(RUN_LIMIT_S), exe("snakemake"),
           "--workflow-profile", "workflow/profiles/slurm",
           "--slurm-status-command", "squeue",
           "--slurm-init-seconds-before-status-checks", str(STATUS_DELAY_S), *extra]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)


def test_pipeline_through_slurm(slurm, project, venv_env, tmp_path_factory):
    tiny_profile(project, libraries=("torch",))
    p = yaml.safe_load((project / "params.yaml").read_text())
    p["train"].update({"seeds": [0, KILLED_SEED], "threads": 1, "batch_size": 256})
    p["data"]["image_size"] = 16   # the scheduling is under test, not the model
    (project / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    user_profile(project)
    inject = tmp_path_factory.mktemp("inject")
    (inject / "sitecustomize.py").write_text(KILL_ONCE)
    marker = inject / "killed"
    env = {**venv_env, "PYTHONPATH": str(inject), "DLCOMPARE_TEST_KILL_MARKER": str(marker)}

    watch = GpuWatch()
    watch.start()
    started = time.monotonic()
    first = snakemake(project, env)
    seconds = time.monotonic() - started
    watch.stop.set()
    watch.join()
    out = first.stdout + first.stderr
    assert first.returncode == 0, f"snakemake failed ({first.returncode}) after {seconds:.0f} s:\n{out[-6000:]}"
    print(f"SLURM pipeline: {seconds:.0f} s")

    # Every stage was an sbatch job: the executor's log names a SLURM job id for each rule.
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    by_rule = {rule: sorted(p.stem for p in (project / "logs/slurm" / f"rule_{rule}").rglob("*.log"))
               for rule in ("download", "clean", "split", "train", "report")}
    assert {rule: len(ids) for rule, ids in by_rule.items()} == \
        {"download": 1, "clean": 1, "split": 1, "train": 3, "report": 1}, by_rule   # 3: one resubmitted
    assert sorted(submitted) == sorted(i for ids in by_rule.values() for i in ids)
    assert watch.gpu_jobs == set(by_rule["train"])            # training asks for a GPU, nothing else

    for seed in (0, KILLED_SEED):
        run = project / f"results/runs/torch/resnet18/seed{seed}"
        log = (project / f"logs/train/torch/resnet18/seed{seed}.log").read_text()
        job = re.search(r"training on cpu .*in SLURM job (\d+) \(CUDA_VISIBLE_DEVICES=0\)", log)
        assert job and job.group(1) in submitted, log          # the scheduler ran it, with its GPU
        metrics = json.loads((run / "metrics.json").read_text())
        assert 0 <= metrics["test"]["accuracy"] <= 1
    assert watch.most == 1                                     # two GPU jobs, never both at once

    # The killed job was resubmitted and resumed from its checkpoint.
    assert marker.is_file()
    resumed = json.loads((project / f"results/runs/torch/resnet18/seed{KILLED_SEED}/run.json").read_text())
    assert resumed["resumed_after"] == {"phase": "phase1", "epoch": 1}
    assert "resuming after phase1 epoch 1" in (project / f"logs/train/torch/resnet18/seed{KILLED_SEED}.log").read_text()
    assert not (project / f"results/checkpoints/torch/resnet18/seed{KILLED_SEED}").exists()

    html = (project / "reports/build/memoir.html").read_text()
    assert "torch" in html and (project / "reports/build/memoir.tex").is_file()

    again = snakemake(project, env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "has been submitted" not in again.stdout + again.stderr
