"""A third party's plugin, end to end: the package in docs/writing-a-plugin.md is built in a temp
dir, pip-installed (non-editable) into the venv, discovered, listed, trained through
`dlcompare train`, evaluated like the built-ins and passed through the conformance suite."""

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from dlcompare.host import evaluate
from dlcompare import glossary, testing

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "writing-a-plugin.md"
PIP = [sys.executable, "-m", "pip"]

pytestmark = pytest.mark.slow


def doc_files() -> dict[str, str]:
    """The fenced blocks of the doc whose first line is ``# file: <path>``."""
    blocks = re.findall(r"^```\w*\n# file: (\S+)\n(.*?)^```", DOC.read_text(encoding="utf-8"),
                        flags=re.M | re.S)
    return dict(blocks)


def rename(text: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Install the doc's package under a unique name (other sessions share the venv)."""
    tag = uuid.uuid4().hex[:8]
    library, module, dist = f"sgd_{tag}", f"dlcompare_example_{tag}", f"dlcompare-example-{tag}"
    files = doc_files()
    assert set(files) == {"pyproject.toml", "dlcompare_sgd/__init__.py", "dlcompare_sgd/plugin.py",
                          "dlcompare_sgd/params.schema.yaml"}
    assert len(files["dlcompare_sgd/plugin.py"].splitlines()) <= 50   # no bookkeeping: the kit has it
    src = tmp_path_factory.mktemp("pkg")
    assert "\nsgd = " in files["pyproject.toml"]
    assert 'name = "sgd"' in files["dlcompare_sgd/plugin.py"]
    for name, text in files.items():
        text = rename(text, {"dlcompare-sgd": dist, "dlcompare_sgd": module})
        if name == "pyproject.toml":
            text = rename(text, {"\nsgd = ": f"\n{library} = "})
        if name.endswith("plugin.py"):
            text = rename(text, {'name = "sgd"': f'name = "{library}"'})
        path = src / name.replace("dlcompare_sgd", module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    subprocess.run(PIP + ["install", "--quiet", "--no-deps", "--no-build-isolation", str(src)],
                   check=True, capture_output=True)
    try:
        yield library, dist
    finally:
        subprocess.run(PIP + ["uninstall", "--quiet", "--yes", dist], capture_output=True)


def dlcompare(*args, cwd, env_plugins):
    env = {**os.environ, "DLCOMPARE_PLUGINS": env_plugins}
    return subprocess.run([sys.executable, "-m", "dlcompare.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_example_plugin_is_listed_trains_and_conforms(example, tmp_path):
    library, dist = example
    testing.make_split(tmp_path)
    params = {"data": {"dataset": "digits", "image_size": 32},
              "train": {"libraries": [library], "archs": ["linear"], "seeds": [0],
                        "device": "auto", "batch_size": 16, "threads": 1},
              library: {"phase1": {"epochs": 2, "lr": 0.01}, "phase2": {"epochs": 1}}}   # lr: default
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")

    listed = dlcompare("plugins", cwd=tmp_path, env_plugins=library)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if library in line)
    assert dist in row and "0.1.0" in row and "linear" in row and "yes" in row and "cpu" in row

    done = dlcompare("train", "--library", library, "--arch", "linear", "--seed", "0",
                     cwd=tmp_path, env_plugins=library)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"{library}/linear/seed0 phase2 epoch 1/1" in done.stdout
    run_dir = tmp_path / glossary.run_dir(glossary.RESULTS_DIR, library, "linear", 0)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(glossary.RUN_ARTIFACTS)
    metrics = json.loads((run_dir / glossary.METRICS).read_text())
    assert metrics == json.loads(json.dumps(evaluate.evaluate_run(run_dir, tmp_path / glossary.SPLIT_DIR)))
    assert metrics["epochs"] == 3 and metrics["valid"]["n"] == 18 and metrics["test"]["n"] == 12
    assert metrics["valid"]["accuracy"] > 0.5   # the synthetic classes are learnable
    assert not (tmp_path / glossary.checkpoint_dir(library, "linear", 0)).exists()
    info = json.loads((run_dir / glossary.RUN_INFO).read_text())
    assert info["params"] == {"phase1": {"epochs": 2, "lr": 0.01}, "phase2": {"epochs": 1, "lr": 0.001}}
    assert info["plugin_version"] == "0.1.0"

    # --params merges over ./params.yaml; a file with only the plugin's section is enough
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({library: {"phase2": {"lr": 0.002}}}))
    checked = dlcompare("check-plugin", library, "--arch", "linear", "--params", "mine.yaml",
                        cwd=tmp_path, env_plugins=library)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "conforms (8 checks passed)" in checked.stdout
    assert "ok    resume" in checked.stdout
    # the same suite through pytest, as a plugin author would run it
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "dlcompare.conformance.pytest_plugin", "--pyargs",
         "dlcompare.conformance", "--dlcompare-plugin", library],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DLCOMPARE_PLUGINS": library, "DLCOMPARE_CHECK_ARCH": "linear"})
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "8 passed" in tests.stdout
