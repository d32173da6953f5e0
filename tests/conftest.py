"""Shared fixtures: the repo root, the venv's executables, and a scratch project directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def exe(name: str) -> str:
    """An executable of the running venv (dlcompare, snakemake, dvc), not whatever is on PATH."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


@pytest.fixture
def venv_env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the workflow files (not data or results) to run stages in."""
    for name in ("Snakefile", "dvc.yaml", "params.yaml", "environment.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("workflow", "reports", "configs", ".dvc"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, tmp_path / name,
                            ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tmp", "cache"))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)   # DVC expects a git workspace
    return tmp_path
