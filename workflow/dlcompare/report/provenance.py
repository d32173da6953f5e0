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
from dlcompare.report.i18n import N_, _
from dlcompare.report.tables import flatten, fmt_value, recorded_params

THESIS_PROFILE = Path("configs/thesis.yaml")
DEFAULT_PROFILE = Path("params.yaml")
DATASETS = {"digits": N_("scikit-learn's digits: real 8×8 grey-scale scans of handwritten digits"),
            "isic": N_("Skin Cancer ISIC: dermoscopic images of skin lesions (the thesis's dataset)"),
            "folder": N_("a local image folder")}


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
        return _("not a git checkout")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return sha + " " + (_("(dirty: uncommitted changes to tracked files)") if dirty else _("(clean)"))


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
    ram = _("{n} GiB RAM").format(n=f"{host['ram_gib']:g}") if host.get("ram_gib") else _("RAM unknown")
    text = _("{cpu}, {cores} cores, {threads} threads per job, {ram}, {os}").format(
        cpu=host.get('cpu', '?') + (f" ({host['cpu_isa']})" if host.get('cpu_isa') else ""), cores=host.get('cores', '?'), threads=host.get('threads_per_job', '?'),
        ram=ram, os=host.get('os', '?'))
    if gpu_used:
        text += "; " + _("GPU {gpu} (driver {driver})").format(gpu=host.get('gpu', _('unknown')),
                                                             driver=host.get('gpu_driver', _('unknown')))
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
        profile = _("thesis ({file})").format(file=THESIS_PROFILE)
    elif data["dataset"] == "digits":
        profile = _("default smoke test ({file}, digits)").format(file=DEFAULT_PROFILE)
    else:
        profile = _("custom")
    differs = []
    if data["dataset"] != "isic":
        differs.append(_("dataset {name} instead of ISIC").format(name=data['dataset']))
    if train.get("pretrained") != "imagenet":
        differs.append(_("trained from scratch instead of from ImageNet weights"))
    for lib, (e1, e2) in ref.items():
        if lib in epochs and epochs[lib] != (e1, e2):
            differs.append(_("{library} {epochs} epochs instead of {e1} + {e2}").format(
                library=lib, epochs=' + '.join(fmt_value(e) for e in epochs[lib]), e1=e1, e2=e2))
    if data.get("image_size") != 256:
        differs.append(_("{s}×{s} px instead of 256×256").format(s=data['image_size']))
    banner = "" if same_thesis else (
        (_("Smoke test: ") if data["dataset"] == "digits" else _("Not the thesis's profile: "))
        + "; ".join(differs or [_("settings differ from configs/thesis.yaml")])
        + ". " + _("Not comparable to the thesis's numbers."))

    n_classes = len(inputs.classes)
    described = DATASETS.get(data["dataset"])
    dataset = _(described) if described else data["dataset"]

    if data["dataset"] == "folder" and data.get("path"):
        dataset += f" ({data['path']})"
    dataset += "; " + (_("{kept:,} images in {n} classes after cleaning").format(kept=kept, n=n_classes)
                       if kept else _("{n} classes").format(n=n_classes)) \
        + ", " + _("resized to {s}×{s} px").format(s=data['image_size'])
    weights = {"imagenet": _("ImageNet weights (transfer learning, as the thesis)"),
               "none": _("none: random initial weights, trained from scratch (the thesis started from ImageNet)")}
    epoch_text = "; ".join(
        f"{lib} {' + '.join(fmt_value(e) for e in epochs[lib])} "
        + (_("(thesis {e1} + {e2})").format(e1=ref[lib][0], e2=ref[lib][1]) if lib in ref
           else _("(not in the thesis)"))
        for lib in libraries)
    found = hosts(inputs)
    gpu_used = any(r.ok and str(r.info.get("device", "")).startswith("cuda") for r in inputs.runs)
    if found:
        hardware = " | ".join(_machine(h, gpu_used) for h in found)
    else:
        hardware = (_machine(machine.describe("cpu", train.get("threads")), False) + " "
                    + _("(the machine that built this memoir: the runs did not record theirs)"))
    versions = []
    for lib in dict.fromkeys(r.library for r in inputs.runs):   # a variant runs its library's
        infos = [r.info for r in inputs.runs if r.ok and r.library == lib]
        if not infos:
            versions.append(f"{lib}: " + _("no finished run"))
            continue
        v = infos[0].get("versions") or {}
        extra = ", ".join(f"{k} {v[k]}" for k in ("torchvision", "torch", "tensorflow", "backend", "cuda")
                          if v.get(k) and k != lib)
        versions.append(f"{lib} {infos[0].get('library_version', '?')}" + (f" ({extra})" if extra else ""))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    sha = commit()
    mine = _differences(p, DEFAULT_PROFILE)
    checkout = f"git checkout {sha.split()[0]} && " if _git("rev-parse", "HEAD") else ""
    if same_thesis:
        command = checkout + "make setup GPU=1 && .venv/bin/snakemake --configfile configs/thesis.yaml --cores 8 --resources gpu=1"
    elif mine is not None and not {k for k in mine if not k.startswith("report.")}:
        command = checkout + "make demo"
    else:
        changed = " ".join(f"{k}={fmt_value(v).replace(' ', '')}" for k, v in (mine or {}).items()
                           if not k.startswith("report."))
        command = checkout + _("make demo, with params.yaml changed to {changes}").format(
            changes=changed or _("these parameters"))
    fields = [(_("Profile"), profile), (_("Dataset"), dataset),
              (_("Initial weights"), weights.get(train.get("pretrained"), str(train.get("pretrained")))),
              (_("Epochs (phase 1 + phase 2)"), epoch_text),
              (_("Seeds"), f"{len(train['seeds'])}: " + ", ".join(str(s) for s in train["seeds"])
               + " " + _("(the thesis ran one)")),
              (_("Runs"), _("{n} of {of} expected finished").format(n=sum(r.ok for r in inputs.runs),
                                                                    of=len(inputs.runs))),
              (_("Hardware"), hardware),
              ("GPU", _("used") if gpu_used else _("none used: every run trained on CPU")),
              (_("Library versions"), "; ".join(versions)),
              (_("Built"), now.strftime("%Y-%m-%d %H:%M UTC")), (_("Git commit"), sha),
              (_("Reproduce"), command)]

    return Provenance(profile, banner, fields, command)
