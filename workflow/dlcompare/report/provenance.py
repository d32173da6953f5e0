"""What ran, for page one of the memoir and the top of the HTML: profile, dataset in words,
initial weights, epochs per phase against the thesis's, seeds, the machine (run.json ``host``),
library versions, date, git commit, and the command that reproduces it. A banner says when the
profile is not the thesis's, so a smoke test is never read as a reproduction."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
from pathlib import Path

import pandas as pd

from dlcompare import glossary as G
from dlcompare import params as params_mod
from dlcompare.glossary import PHASES
from dlcompare.host import machine
from dlcompare.report.collect import Inputs
from dlcompare.report.tables import flatten, fmt_value, recorded_params

THESIS_PROFILE = Path("configs/thesis.yaml")
DEFAULT_PROFILE = Path("params.yaml")
DATASETS = {"digits": "scikit-learn's digits: real 8×8 grey-scale scans of handwritten digits",
            "isic": "Skin Cancer ISIC: dermoscopic images of skin lesions (the thesis's dataset)",
            "folder": "a local image folder"}


@dataclasses.dataclass
class Provenance:
    profile: str
    banner: str                       # empty for the thesis's profile
    fields: list[tuple[str, str]]
    command: str


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def commit() -> str:
    sha = _git("rev-parse", "--short=12", "HEAD")
    if not sha:
        return "not a git checkout"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return sha + (" (dirty: uncommitted changes to tracked files)" if dirty else " (clean)")


def _differences(params: dict, path: Path) -> dict[str, object] | None:
    """Settings of ``params`` that differ from the profile file (None when it is unreadable)."""
    try:
        base = params_mod.validate(params_mod.read_yaml(path))
    except Exception:          # a missing or invalid profile file only loses this comparison
        return None
    mine, theirs = flatten(params), flatten(base)
    return {k: v for k, v in mine.items() if theirs.get(k, object()) != v}


def thesis_epochs(thesis: pd.DataFrame | None) -> dict[str, tuple[int, int]]:
    if thesis is None:
        return {}
    first = thesis.groupby("library")[[f"{p}_epochs" for p in PHASES]].first()
    return {lib: tuple(int(v) for v in row) for lib, row in first.iterrows()}


def _epochs(inputs: Inputs, entry: str) -> tuple:
    """Epochs per phase as the runs' histories count them (what ran), else the settings."""
    seen = {tuple(int((r.history["phase"] == p).sum()) for p in PHASES)
            for r in inputs.runs if r.ok and r.entry == entry and r.history is not None}
    if len(seen) == 1:
        return seen.pop()
    if seen:
        return tuple("–".join(str(v) for v in sorted({e[k] for e in seen})) for k in range(len(PHASES)))
    section = recorded_params(inputs, entry)
    return tuple((section.get(p) or {}).get("epochs") for p in PHASES)


def hosts(inputs: Inputs) -> list[dict]:
    seen = []
    for run in inputs.runs:
        host = run.info.get("host") if run.ok else None
        if isinstance(host, dict) and host not in seen:
            seen.append(host)
    return seen


def _machine(host: dict, gpu_used: bool) -> str:
    ram = f"{host['ram_gib']:g} GiB RAM" if host.get("ram_gib") else "RAM unknown"
    text = (f"{host.get('cpu', '?')}, {host.get('cores', '?')} cores, {host.get('threads_per_job', '?')} "
            f"threads per job, {ram}, {host.get('os', '?')}")
    if gpu_used:
        text += f"; GPU {host.get('gpu', 'unknown')} (driver {host.get('gpu_driver', 'unknown')})"
    return text


def build(inputs: Inputs, thesis: pd.DataFrame | None, now: datetime.datetime | None = None) -> Provenance:
    p = inputs.params
    train, data = p["train"], p["data"]
    libraries = G.entries(train)
    ref = thesis_epochs(thesis)
    epochs = {lib: _epochs(inputs, lib) for lib in libraries}
    theirs = _differences(p, THESIS_PROFILE)
    same_thesis = theirs is not None and not {k for k in theirs if not k.startswith("report.")}
    kept = ((inputs.cleaning or {}).get("totals") or {}).get("kept") \
        or ((inputs.cleaning or {}).get("totals") or {}).get("after")
    if same_thesis:
        profile = f"thesis ({THESIS_PROFILE})"
    elif data["dataset"] == "digits":
        profile = f"default smoke test ({DEFAULT_PROFILE}, digits)"
    else:
        profile = "custom"
    differs = []
    if data["dataset"] != "isic":
        differs.append(f"dataset {data['dataset']} instead of ISIC")
    if train.get("pretrained") != "imagenet":
        differs.append("trained from scratch instead of from ImageNet weights")
    for lib, (e1, e2) in ref.items():
        if lib in epochs and epochs[lib] != (e1, e2):
            differs.append(f"{lib} {' + '.join(fmt_value(e) for e in epochs[lib])} epochs instead of {e1} + {e2}")
    if data.get("image_size") != 256:
        differs.append(f"{data['image_size']}×{data['image_size']} px instead of 256×256")
    banner = "" if same_thesis else (
        ("Smoke test: " if data["dataset"] == "digits" else "Not the thesis's profile: ")
        + "; ".join(differs or ["settings differ from configs/thesis.yaml"])
        + ". Not comparable to the thesis's numbers.")

    n_classes = len(inputs.classes)
    dataset = DATASETS.get(data["dataset"], data["dataset"])
    if data["dataset"] == "folder" and data.get("path"):
        dataset += f" ({data['path']})"
    dataset += (f"; {kept:,} images in {n_classes} classes after cleaning" if kept else
                f"; {n_classes} classes") + f", resized to {data['image_size']}×{data['image_size']} px"
    weights = {"imagenet": "ImageNet weights (transfer learning, as the thesis)",
               "none": "none: random initial weights, trained from scratch (the thesis started from ImageNet)"}
    epoch_text = "; ".join(
        f"{lib} {' + '.join(fmt_value(e) for e in epochs[lib])}"
        + (f" (thesis {ref[lib][0]} + {ref[lib][1]})" if lib in ref else " (not in the thesis)")
        for lib in libraries)
    found = hosts(inputs)
    gpu_used = any(r.ok and str(r.info.get("device", "")).startswith("cuda") for r in inputs.runs)
    if found:
        hardware = " | ".join(_machine(h, gpu_used) for h in found)
    else:
        hardware = (_machine(machine.describe("cpu", train.get("threads")), False)
                    + " (the machine that built this memoir: the runs did not record theirs)")
    versions = []
    for lib in dict.fromkeys(r.library for r in inputs.runs):   # a variant runs its library's
        infos = [r.info for r in inputs.runs if r.ok and r.library == lib]
        if not infos:
            versions.append(f"{lib}: no finished run")
            continue
        v = infos[0].get("versions") or {}
        extra = ", ".join(f"{k} {v[k]}" for k in ("torchvision", "torch", "tensorflow", "backend", "cuda")
                          if v.get(k) and k != lib)
        versions.append(f"{lib} {infos[0].get('library_version', '?')}" + (f" ({extra})" if extra else ""))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    sha = commit()
    mine = _differences(p, DEFAULT_PROFILE)
    checkout = f"git checkout {sha.split()[0]} && " if not sha.startswith("not") else ""
    if same_thesis:
        command = checkout + "make setup GPU=1 && .venv/bin/snakemake --configfile configs/thesis.yaml --cores 8 --resources gpu=1"
    elif mine is not None and not {k for k in mine if not k.startswith("report.")}:
        command = checkout + "make demo"
    else:
        changed = " ".join(f"{k}={fmt_value(v).replace(' ', '')}" for k, v in (mine or {}).items()
                           if not k.startswith("report."))
        command = checkout + "make demo, with params.yaml changed to " + (changed or "these parameters")
    fields = [("Profile", profile), ("Dataset", dataset), ("Initial weights", weights.get(train.get("pretrained"),
                                                                                         str(train.get("pretrained")))),
              ("Epochs (phase 1 + phase 2)", epoch_text),
              ("Seeds", f"{len(train['seeds'])}: " + ", ".join(str(s) for s in train["seeds"])
               + " (the thesis ran one)"),
              ("Runs", f"{sum(r.ok for r in inputs.runs)} of {len(inputs.runs)} expected finished"),
              ("Hardware", hardware), ("GPU", "used" if gpu_used else "none used: every run trained on CPU"),
              ("Library versions", "; ".join(versions)),
              ("Built", now.strftime("%Y-%m-%d %H:%M UTC")), ("Git commit", sha),
              ("Reproduce", command)]
    return Provenance(profile, banner, fields, command)
