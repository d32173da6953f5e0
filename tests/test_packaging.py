"""The core installed as a user would, non-editable: its parameter schema is package data, so
`dlcompare --help` and params validation work without the source tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow   # builds and installs a wheel


def test_core_installed_non_editable_finds_its_schema(tmp_path):
    src, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(ROOT / "workflow" / "dlcompare", src / "workflow" / "dlcompare",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True)
    assert (target / "dlcompare" / "schemas" / "params.schema.yaml").is_file()
    shutil.rmtree(src)                                   # nothing may come from the source tree
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "DLCOMPARE_PLUGINS": "none"}
    code = ("import dlcompare, dlcompare.params as p, sys\n"
            f"assert dlcompare.__file__.startswith({str(target)!r}), dlcompare.__file__\n"
            "ok = p.validate({'data': {'dataset': 'digits', 'image_size': 8}, 'train': {'libraries': ['x'],"
            " 'archs': ['linear'], 'seeds': [0]}})\n"
            "assert ok['train']['batch_size'] == 32\n"
            "try:\n    p.validate({'data': {'dataset': 'nope', 'image_size': 8}, 'train': {'libraries': ['x'],"
            " 'archs': ['a'], 'seeds': [0]}})\n"
            "except p.UserError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "invalid parameter data.dataset: 'nope' is not one of" in done.stdout
    helped = subprocess.run([sys.executable, "-m", "dlcompare.cli", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0 and "check-plugin" in helped.stdout, helped.stderr
