"""DVC at scale, the README's commands for real (slow): a seed sweep queued with
`dvc exp run --queue`, run by two parallel workers (`dvc queue start -j 2`), compared with
`dvc exp show`. Each experiment is the whole DAG in its own temporary workspace."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, exe
from test_pipeline_e2e import run, tiny_profile

pytestmark = pytest.mark.slow

QUEUE_LIMIT_S = 1200   # a quiet machine needs a fraction; a shared one far more


def metrics_of(experiments: list[dict]) -> dict[str, dict]:
    """`dvc exp show --json`: experiment name -> {metrics file: its data}."""
    found = {}
    for commit in experiments:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("name"):
                    found[rev["name"]] = {path: m.get("data") for path, m in (data.get("metrics") or {}).items()}
    return found


def kill_processes_in(folder, grace_s: float = 10.0) -> None:
    """End every process working in ``folder`` (DVC's workers, which may outlive `queue stop`)."""
    import psutil

    def inside(proc) -> bool:
        try:
            return proc.pid != os.getpid() and Path(proc.cwd()).is_relative_to(folder)
        except (psutil.Error, OSError):
            return False

    procs = [proc for proc in psutil.process_iter() if inside(proc)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def test_seed_sweep_through_the_experiment_queue(project, venv_env):
    tiny_profile(project, libraries=("torch",))
    for name in (".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, project / name)
    env = {**venv_env, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.org",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.org"}
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "tiny profile"], project, env)

    for seed in (1, 2):   # README: dvc exp run --queue -S 'train.seeds=[N]' -n seedN
        queued = run([exe("dvc"), "exp", "run", "--queue", "-S", f"train.seeds=[{seed}]", "-n", f"seed{seed}"],
                     project, env)
        assert "Queued experiment" in queued.stdout + queued.stderr
    started = time.monotonic()
    try:
        # The workers inherit `queue start`'s stdout and stderr: with pipes there, the call would
        # last until they exit, and a worker that misses its shutdown (dvc-task's monitor, seen
        # here) would hold it forever. The status poll below is what waits.
        subprocess.run([exe("dvc"), "queue", "start", "-j", "2"], cwd=project, env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            status = run([exe("dvc"), "queue", "status"], project, env).stdout
            if "Queued" not in status and "Running" not in status:
                break
            if time.monotonic() - started > QUEUE_LIMIT_S:
                pytest.fail(f"queue not done within {QUEUE_LIMIT_S} s:\n{status}")
            time.sleep(3)
    finally:   # never leave workers behind, whatever happened
        run([exe("dvc"), "queue", "stop", "--kill"], project, env, check=False)
        kill_processes_in(project)
    print(f"two queued experiments, two workers: {time.monotonic() - started:.0f} s")
    assert status.count("Success") == 2, status + "\n" + "\n".join(
        run([exe("dvc"), "queue", "logs", name], project, env, check=False).stdout[-2000:]
        for name in ("seed1", "seed2"))

    shown = json.loads(run([exe("dvc"), "exp", "show", "--json"], project, env).stdout)
    metrics = metrics_of(shown)
    for seed in (1, 2):
        run_metrics = metrics[f"seed{seed}"][f"results/runs/torch/resnet18/seed{seed}/metrics.json"]
        assert 0 <= run_metrics["test"]["accuracy"] <= 1
    table = run([exe("dvc"), "exp", "show", "--csv"], project, env).stdout
    assert "seed1" in table and "seed2" in table
