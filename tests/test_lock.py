"""One lock: requirements.lock pins everything, environment.yml mirrors it, the venv matches it."""

import importlib.metadata
import re

import yaml

from conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^\s;]+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("-e "):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        out[_norm(match.group(1))] = match.group(3)
    return out


def lock_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements.lock").read_text().splitlines())


def env_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins(pip)


def test_environment_yml_mirrors_the_lock():
    lock, env = lock_pins(), env_pins()
    # the one deliberate difference: conda (GPU machines) gets the CUDA build of TensorFlow
    assert env.pop("tensorflow") == lock.pop("tensorflow-cpu")
    assert env == lock


def test_lock_pins_the_versions_the_project_is_built_on():
    lock = lock_pins()
    expected = {"torch": "2.14.1", "torchvision": "0.29.2", "fastai": "2.8.12", "tensorflow-cpu": "2.21.0",
                "keras": "3.15.1", "snakemake": "9.27.1", "dvc": "3.67.1", "pluggy": "1.7.0"}
    assert {k: lock.get(k) for k in expected} == expected


def test_the_running_venv_matches_the_lock():
    lock = lock_pins()
    installed = {_norm(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    drift = {name: (version, installed.get(name)) for name, version in lock.items()
             if installed.get(name) != version}
    assert not drift, f"installed versions differ from requirements.lock: {drift}"
