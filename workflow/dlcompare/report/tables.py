"""The memoir's tables, computed from the collected artifacts and params (nothing typed in).

Each table is a :class:`Table` of :class:`Cell` s (display text plus a numeric sort key), so the
LaTeX and HTML templates render the same content and the HTML can sort numerically.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from dlcompare import glossary as G
from dlcompare.glossary import PHASES, SPLITS
from dlcompare.host.entries import lookup
from dlcompare.params import deep_merge
from dlcompare.report.collect import Inputs, RunResult, own_losses
from dlcompare.report.i18n import N_, _

QUALITY = (("accuracy", N_("Accuracy")), ("loss", N_("Cross-entropy")),
           ("balanced_accuracy", N_("Balanced accuracy")), ("macro_f1", N_("Macro-F1")))
TEXT_COLUMNS = ["entry", "library", "arch", "status", "reason", "device", "library_version"]


@dataclasses.dataclass
class Cell:
    text: str
    sort: float | str | None = None
    missing: bool = False
    breakable: bool = False      # LaTeX may break the line after dots and underscores


@dataclasses.dataclass
class Table:
    id: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    text_cols: int = 2          # leading text columns; the rest are numbers (right-aligned)


def fmt_num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    text = f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text   # no "-0.000"


def fmt_seconds(seconds) -> str:
    """The thesis printed hh:mm:ss; short CPU runs read better in seconds."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def mean_std(values: pd.Series, fmt=fmt_num) -> Cell:
    values = values.dropna()
    if values.empty:
        return Cell("–", None, missing=True)
    mean = float(values.mean())
    if len(values) < 2:
        return Cell(fmt(mean), mean)
    return Cell(f"{fmt(mean)} ± {fmt(float(values.std(ddof=1)))}", mean)


def epochs_to_target(history: pd.DataFrame | None, target: float) -> float:
    """First epoch (counted across both phases) whose validation accuracy reaches ``target``;
    NaN when never."""
    if history is None:
        return math.nan
    hit = history.loc[history["valid_accuracy"] >= target, "step"]
    return float(hit.iloc[0]) if len(hit) else math.nan


def run_row(run: RunResult, target: float) -> dict:
    row = {"entry": run.entry, "library": run.library, "arch": run.arch, "seed": run.seed, "status": run.status,
           "reason": run.reason}
    if not run.ok:
        return row
    info, m, h = run.info, run.metrics, run.history
    for split in ("valid", "test"):
        for key, _label in QUALITY:
            row[f"{split}_{key}"] = m[split].get(key)
    for phase in PHASES:
        row[f"{phase}_seconds"] = (info.get("phase_seconds") or {}).get(phase)
        row[f"{phase}_epochs"] = int((h["phase"] == phase).sum()) if h is not None else None
    # The loss the library itself reports for its last epoch (Keras's includes the L2 penalty),
    # next to the core's cross-entropy: the memoir shows why the thesis could not compare them.
    own = own_losses(run)
    last = h.iloc[-1] if h is not None and len(h) else None
    if own:
        mine = own[-1]
        row["reported_valid_loss"] = mine[f"{run.library}_valid_loss"]
        row["reported_train_loss"] = mine.get(f"{run.library}_train_loss")
        row["loss_penalty"] = mine.get(f"l2_{run.library}")
        row["loss_penalty_all_kernels"] = mine.get("l2_all_kernels")
    else:
        row["reported_valid_loss"] = float(last["valid_loss"]) if last is not None else None
        row["reported_train_loss"] = float(last["train_loss"]) if last is not None else None
    seconds = info.get("phase_seconds") or {}
    row["train_seconds"] = float(sum(seconds.values())) if seconds else None   # run.json: timings stay out of metrics.json
    row["epochs"] = m.get("epochs")
    row["seconds_per_epoch"] = (row["train_seconds"] / m["epochs"]) if m.get("epochs") and seconds else None
    row["warmup_seconds"] = info.get("warmup_seconds")   # first epoch of each phase: tracing, autotuning
    ips = info.get("images_per_second") or {}
    row["train_images_per_second"] = ips.get("train")
    row["inference_images_per_second"] = ips.get("inference")
    row["peak_memory_mb"] = info.get("peak_memory_mb")
    row["param_count"] = info.get("param_count")
    row["epochs_to_target"] = epochs_to_target(h, target)
    row["device"] = info.get("device")
    row["library_version"] = info.get("library_version")
    return row


def run_frame(inputs: Inputs) -> pd.DataFrame:
    """One row per expected run (missing ones included): the memoir's summary.csv."""
    target = inputs.params.get("report", {}).get("target_accuracy", 0.8)
    frame = pd.DataFrame([run_row(run, target) for run in inputs.runs])
    for column in frame.columns.difference(TEXT_COLUMNS):
        frame[column] = pd.to_numeric(frame[column])
    return frame


def model_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (entry, arch): summary_by_model.csv."""
    metrics = [c for c in runs.columns if c not in TEXT_COLUMNS and c != "seed"]
    groups = runs.groupby(["entry", "library", "arch"], sort=False)
    out = groups.agg(runs_expected=("seed", "size"), runs_ok=("status", lambda s: int((s == "ok").sum())))
    if metrics:
        stats = groups[metrics].agg(["mean", "std"])
        stats.columns = [f"{c}_{s}" for c, s in stats.columns]
        out = out.join(stats)
    return out.reset_index()


def model_groups(inputs: Inputs, runs: pd.DataFrame):
    """(arch, entry, rows of that model) in params order, each with a seeds cell."""
    train = inputs.params["train"]
    for arch in train["archs"]:
        for entry in G.entries(train):
            sub = runs[(runs["arch"] == arch) & (runs["entry"] == entry)]
            ok = sub[sub["status"] == "ok"]
            seeds = Cell(f"{len(ok)}/{len(sub)}", len(ok), missing=ok.empty)
            yield arch, entry, ok, seeds


def quality_table(inputs: Inputs, runs: pd.DataFrame, split: str) -> Table:
    rows = []
    for arch, library, ok, seeds in model_groups(inputs, runs):
        cells = [mean_std(ok[f"{split}_{key}"]) if not ok.empty else Cell(_("missing"), None, True)
                 for key, _label in QUALITY]
        rows.append([Cell(arch, arch), Cell(library, library), seeds, *cells])
    caption = {"valid": _("Results on the validation split: mean ± standard deviation over seeds (one value "
                          "when one seed ran). Cross-entropy is computed by the core from the saved "
                          "probabilities, identically for every library, so losses are comparable."),
               "test": _("Results on the test split: mean ± standard deviation over seeds (one value "
                         "when one seed ran). Cross-entropy is computed by the core from the saved "
                         "probabilities, identically for every library, so losses are comparable.")}[split]
    return Table(f"results-{split}", caption,
                 [_("Model"), _("Entry"), _("Seeds"), *[_(label) for _key, label in QUALITY]], rows, text_cols=2)


def cost_table(inputs: Inputs, runs: pd.DataFrame) -> Table:
    target = inputs.params.get("report", {}).get("target_accuracy", 0.8)
    rows = []
    for arch, library, ok, seeds in model_groups(inputs, runs):
        if ok.empty:
            rows.append([Cell(arch, arch), Cell(library, library)]
                        + [Cell(_("missing"), None, True) for _k in range(9)])
            continue
        reached = ok["epochs_to_target"].dropna()
        if reached.empty:
            target_cell = Cell(_("not reached"), math.inf)
        else:
            target_cell = mean_std(reached, lambda v: f"{v:.1f}" if not float(v).is_integer() else f"{v:.0f}")
            if len(reached) < len(ok):
                target_cell.text += " " + _("({n}/{of} seeds)").format(n=len(reached), of=len(ok))
        epochs = ok[[f"{p}_epochs" for p in PHASES]].mean()
        rows.append([
            Cell(arch, arch), Cell(library, library),
            mean_std(ok["phase1_seconds"], fmt_seconds), mean_std(ok["phase2_seconds"], fmt_seconds),
            Cell(" + ".join(fmt_num(v, 0) if math.isfinite(v) else "–" for v in epochs), float(epochs.sum())),
            mean_std(ok["seconds_per_epoch"], lambda v: f"{v:.2f}"),
            mean_std(ok["warmup_seconds"], fmt_seconds) if ok["warmup_seconds"].notna().any()
            else Cell("–", None, True),
            mean_std(ok["train_images_per_second"], lambda v: f"{v:,.0f}"),
            mean_std(ok["inference_images_per_second"], lambda v: f"{v:,.0f}"),
            mean_std(ok["peak_memory_mb"], lambda v: f"{v:,.0f}"),
            target_cell])
    return Table("results-cost", _("Training cost per model: time per phase, epochs (phase 1 + phase 2), "
                                   "seconds per epoch (all epochs), the warm-up (the first epoch of each "
                                   "phase: model build, tracing, autotuning), steady-state training "
                                   "throughput (warm-up left out), inference throughput, peak memory, and "
                                   "the first epoch whose validation accuracy reached {target} "
                                   "(report.target_accuracy).")
                 .format(target=f"{target:g}"),
                 [_("Model"), _("Entry"), _("Phase 1"), _("Phase 2"), _("Epochs"), _("s/epoch"),
                  _("Warm-up"), _("Train img/s"), _("Infer. img/s"), _("Memory (MB)"),
                  _("Epochs to {target}").format(target=f"{target:g}")], rows)


def status_table(inputs: Inputs) -> Table | None:
    """Runs that did not finish, with why (absent when every expected run finished)."""
    bad = [r for r in inputs.runs if not r.ok or r.reason]
    if not bad:
        return None
    rows = [[Cell(r.entry), Cell(r.arch), Cell(str(r.seed), r.seed), Cell(_(r.status), missing=not r.ok),
             Cell(_(r.reason) if r.reason else "")] for r in bad]      # status codes, reasons marked N_: translated
    return Table("runs-missing", _("Expected runs that did not finish or lack an artifact; they are "
                                   "left out of every mean above."),
                 [_("Entry"), _("Model"), _("Seed"), _("Status"), _("Why")], rows, 5)


def flatten(section: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in section.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def fmt_value(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return str(value)


def recorded_params(inputs: Inputs, entry: str) -> dict:
    """The settings an entry really ran with: run.json ``params`` (the resolved section, plugin
    defaults included) of its first finished run, else what params.yaml gives it."""
    for run in inputs.runs:
        if run.ok and run.entry == entry and isinstance(run.info.get("params"), dict):
            resolved = run.info["params"]
            return resolved[run.library] if isinstance(resolved.get(run.library), dict) else resolved
    spec = lookup(inputs.params, entry)
    return deep_merge(inputs.params.get(spec.library) or {}, spec.overlay)


def _rate(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return _("{first} (first layers) to {head} (head): discriminative").format(
            first=f"{value[0]:g}", head=f"{value[1]:g}")
    return fmt_value(value)


def _flips(a: dict) -> str:
    both, one = a.get("flip_horizontal"), a.get("flip_vertical")
    if both and one:
        return _("horizontal and vertical flip")
    return _("horizontal flip") if both else _("vertical flip") if one else ""


def _augment(library: str, a: dict) -> str:
    """Augmentation as each library runs it, in words with units (keys as the plugins read them)."""
    if not a:
        return _("none")
    out = []
    if library == "fastai":         # aug_transforms: its defaults (warp 0.2) + the section's keys
        if a.get("do_flip", True):
            out.append(_("dihedral (8 flips/turns of the square)") if a.get("flip_vert", True) else _("horizontal flip"))
        else:
            out.append(_("no flips"))
        out.append(_("rotation ±{deg}°").format(deg=f"{a.get('max_rotate', 10):g}"))
        out.append(_("zoom in up to {x}×").format(x=f"{a.get('max_zoom', 1.1):g}"))
        out.append(_("perspective warp {x}").format(x=f"{a.get('max_warp', 0.2):g}"))
        out.append(_("brightness and contrast ±{x}").format(x=f"{a.get('max_lighting', 0.2):g}"))
        return ", ".join(out)
    flips = _flips(a)
    if library == "keras":          # Keras preprocessing layers: factors are fractions
        if flips:
            out.append(flips)
        if a.get("rotation"):
            out.append(_("rotation ±{deg}° (factor {x} of a turn)").format(
                deg=f"{a['rotation'] * 360:.1f}", x=f"{a['rotation']:g}"))
        if a.get("zoom"):
            out.append(_("zoom ±{pct} %").format(pct=f"{a['zoom'] * 100:g}"))
        if a.get("shear"):
            out.append(_("shear {x} of the side (±{deg}°)").format(
                x=f"{a['shear']:g}", deg=f"{math.degrees(math.atan(a['shear'])):.1f}"))
        if a.get("brightness"):
            out.append(_("brightness ±{pct} % of the range").format(pct=f"{a['brightness'] * 100:g}"))
        return ", ".join(out) or _("none")
    if library == "torch":          # torchvision v2, fastai-like
        if a.get("dihedral"):
            out.append(_("dihedral (8 flips/turns of the square)"))
        if flips:
            out.append(flips)
        if a.get("rotation"):
            out.append(_("rotation ±{deg}°").format(deg=f"{a['rotation']:g}"))
        if a.get("zoom", 1) > 1:
            out.append(_("zoom in up to {x}×").format(x=f"{a['zoom']:g}"))
        if a.get("warp"):
            out.append(_("perspective warp {x}").format(x=f"{a['warp']:g}"))
        light = [k for k in ("brightness", "contrast") if a.get(k)]
        if light:
            words = {"brightness": _("brightness"), "contrast": _("contrast")}
            out.append(_(" and ").join(words[k] for k in light) + " ±" + "/".join(f"{a[k]:g}" for k in light))
        return ", ".join(out) or _("none")
    return ", ".join(f"{k} {fmt_value(v)}" for k, v in a.items())


# Table 4.1's concepts: (row label, {library: keys it reads}, how to show them). A library whose
# section lacks every key of a row does not use that setting ("not used"); "Other settings"
# lists whatever no row took, so no key of a section is hidden.
def _optimizer(lib: str, c: dict) -> str | None:
    if lib == "keras" and "beta_1" in c:
        return f"Adam (β1 {c['beta_1']:g}, β2 {c.get('beta_2', 0.999):g})"
    if lib == "fastai":
        return _("Adam (fastai), β1 following the one-cycle momentums")
    if lib == "torch" and "optimizer" in c:
        betas = c.get("betas")
        return (f"{ {'adamw': 'AdamW', 'adam': 'Adam', 'sgd': 'SGD'}.get(c['optimizer'], c['optimizer'])}"
                + (f" (β1 {betas[0]:g}, β2 {betas[1]:g}" + (f", ε {c['eps']:g})" if "eps" in c else ")")
                   if betas else ""))
    return None


def _weight_decay(lib: str, c: dict) -> str | None:
    if lib == "keras" and "l2" in c:
        return _("L2 {x} on every conv and dense kernel (added to the loss)").format(
            x=f"{c['l2']:g}") if c["l2"] else _("none")
    if "weight_decay" in c:
        return _("{x} (decoupled weight decay)").format(x=f"{c['weight_decay']:g}")
    return None


def _one_cycle(lib: str, c: dict) -> str | None:
    on = True if lib == "fastai" else c.get("one_cycle")
    if on is None:
        return None
    if not on:
        return _("no")
    if "pct_start" in c:
        return _("yes (warm-up {x} of the steps)").format(x=f"{c['pct_start']:g}")
    return _("yes (fit_one_cycle)") if lib == "fastai" else _("yes")


def _momentum(lib: str, c: dict) -> str | None:
    moms = c.get("moms")
    on = True if lib == "fastai" else c.get("one_cycle")
    if moms and on:
        return f"{moms[0]:g} → {moms[1]:g} → {moms[0]:g} " + _("(one-cycle)")
    return None


def _discriminative(lib: str, c: dict) -> str | None:
    phase2 = (c.get("phase2") or {}).get("lr")
    if lib == "fastai":
        return _("yes (phase 2)") if isinstance(phase2, (list, tuple)) else _("no")
    if "discriminative" in c:
        return _("yes (phase 2)") if c["discriminative"] else _("no")
    return None


def _phase(key: str, phase: str):
    def get(lib: str, c: dict):
        value = (c.get(phase) or {}).get(key)
        if value is None:
            return None
        return _rate(value) if key == "lr" else f"{value}"
    return get


CONFIG_ROWS = [
    (N_("Optimizer"), _optimizer, ("optimizer", "betas", "eps", "beta_1", "beta_2")),
    (N_("Weight decay / L2"), _weight_decay, ("weight_decay", "l2")),
    (N_("One-cycle schedule"), _one_cycle, ("one_cycle", "pct_start")),
    (N_("Momentum (β1) schedule"), _momentum, ("moms",)),
    (N_("Discriminative learning rates"), _discriminative, ("discriminative",)),
    (N_("Learning rate, phase 1 (head)"), _phase("lr", "phase1"), ()),
    (N_("Learning rate, phase 2 (all layers)"), _phase("lr", "phase2"), ()),
    (N_("Epochs, phase 1"), _phase("epochs", "phase1"), ()),
    (N_("Epochs, phase 2"), _phase("epochs", "phase2"), ()),
    (N_("Data augmentation"), lambda lib, c: _augment(lib, c.get("augment") or {}), ("augment",)),
]


def _recipe(library: str, entry: str, description: str | None) -> str:
    """The configuration table's Recipe cell: a library's own recipe, or what a variant changes."""
    if library == entry:
        return _("base recipe")
    if description:
        return _("variant of {library}: {description}").format(library=library, description=description)
    return _("variant of {library}").format(library=library)


def config_table(inputs: Inputs) -> Table:
    """Table 4.1 as the thesis has it: one row per setting, one column per entry (library or
    variant), the same concept on the same row, with units; read from what each run resolved
    (run.json ``params``)."""
    p = inputs.params
    libraries = G.entries(p["train"])
    plugin = {entry: lookup(p, entry).library for entry in libraries}
    s = p["data"]["image_size"]
    shared = [(_("Input image"), f"{s}×{s} px"),
              (_("Batch size"), _("{n} images").format(n=p["train"].get("batch_size"))),
              (_("Initial weights"), {"none": _("random (from scratch)"), "imagenet": "ImageNet"}.get(
                  p["train"].get("pretrained"), fmt_value(p["train"].get("pretrained")))),
              (_("Seeds"), ", ".join(str(x) for x in p["train"]["seeds"])),
              (_("Threads per job"), fmt_value(p["train"].get("threads")))]
    rows = [[Cell(key), *[Cell(value) for _ in libraries]] for key, value in shared]
    if any(plugin[e] != e for e in libraries):     # variants ran: say what each one asks
        rows.insert(0, [Cell(_("Recipe")), *[Cell(_recipe(plugin[e], e, lookup(p, e).description), breakable=True)
                                             for e in libraries]])
    sections = {lib: recorded_params(inputs, lib) for lib in libraries}
    used = {lib: {"phase1", "phase2"} for lib in libraries}
    for label, get, keys in CONFIG_ROWS:
        cells = []
        for lib in libraries:
            value = get(plugin[lib], sections[lib])
            used[lib].update(k for k in keys if k in sections[lib])
            cells.append(Cell(value) if value is not None else Cell(_("not used"), missing=True))
        rows.append([Cell(_(label)), *cells])
    other = []
    for lib in libraries:
        rest = {k: v for k, v in flatten({k: v for k, v in sections[lib].items() if k not in used[lib]}).items()}
        other.append(Cell("; ".join(f"{k} = {fmt_value(v)}" for k, v in rest.items()) or "–",
                          missing=not rest, breakable=True))
    rows.append([Cell(_("Other settings")), *other])
    return Table("config", _("Configuration and hyper-parameters each library ran with, as each run "
                             "resolved them (run.json params, plugin defaults included; the params.yaml "
                             "section when a run did not record them). Phase 1 trains the new head, phase 2 "
                             "fine-tunes every layer; \"not used\" marks a setting the library does not have."),
                 [_("Setting"), *libraries], rows, 1 + len(libraries))


def environment_table(inputs: Inputs) -> Table:
    """Devices and versions the finished runs report in run.json."""
    rows = []
    for library in G.entries(inputs.params["train"]):
        infos = [r.info for r in inputs.runs if r.entry == library and r.ok]
        def values(get):
            seen = []
            for info in infos:
                v = get(info)
                if v not in (None, "") and str(v) not in seen:
                    seen.append(str(v))
            return ", ".join(seen) or "–"
        versions: dict[str, list[str]] = {}
        for info in infos:
            for key, v in (info.get("versions") or {}).items():
                if v not in (None, "") and key != "device_name" and str(v) not in versions.setdefault(key, []):
                    versions[key].append(str(v))
        rows.append([Cell(library), Cell(values(lambda i: i.get("library_version")), missing=not infos),
                     Cell(values(lambda i: i.get("device"))),
                     Cell(values(lambda i: (i.get("versions") or {}).get("device_name"))),
                     Cell("; ".join(f"{k} {', '.join(v)}" for k, v in versions.items()) or "–")])
    return Table("environment", _("Hardware and software the runs report (run.json of every finished run)."),
                 [_("Entry"), _("Version"), _("Device"), _("Hardware"), _("Other versions")], rows, 5)


def cleaning_table(inputs: Inputs) -> Table | None:
    """Per class: images before cleaning, removed, after, dropped, and per split (Figure 4.1 data)."""
    cleaning, counts = inputs.cleaning, inputs.split_counts
    if not cleaning and counts is None:
        return None
    classes = list((cleaning or {}).get("classes", {})) or list(counts.index)
    rows = []
    for name in classes:
        c = (cleaning or {}).get("classes", {}).get(name, {})
        split = [int(counts.loc[name, s]) if counts is not None and name in counts.index else 0 for s in SPLITS]
        rows.append([Cell(name, name), *[Cell(fmt_value(c.get(k, "–")), c.get(k)) for k in
                     ("before", "duplicates_removed", "unreadable", "after")],
                     Cell(_("dropped") if c.get("dropped") else _("kept"), missing=bool(c.get("dropped"))),
                     *[Cell(str(n), n) for n in split]])
    t = (cleaning or {}).get("totals", {})
    total_split = [int(counts[s].sum()) if counts is not None else 0 for s in SPLITS]
    rows.append([Cell(_("total"), "~"), *[Cell(fmt_value(t.get(k, "–")), t.get(k)) for k in
                 ("before", "duplicates_removed", "unreadable", "after")],
                 Cell(_("{kept}/{of} classes").format(kept=t.get('classes_after', '–'),
                                                      of=t.get('classes_before', '–'))),
                 *[Cell(str(n), n) for n in total_split]])
    return Table("cleaning", _("Images per class before cleaning, removed as duplicates (every copy of an "
                               "image filed under two classes) or unreadable, after de-duplication, and in "
                               "each split of the classes kept."),
                 [_("Class"), _("Before"), _("Duplicates"), _("Unreadable"), _("After"), _("Class kept"),
                  *[split_name(s) for s in SPLITS]], rows, 1)


def confused_pairs(inputs: Inputs, top: int = 5) -> Table:
    """fastai's ``most_confused``, computed for every library alike from the validation confusion
    matrices (summed over seeds)."""
    rows = []
    for arch in inputs.params["train"]["archs"]:
        for library in G.entries(inputs.params["train"]):
            mats = [np.asarray(r.metrics["valid"]["confusion_matrix"]) for r in inputs.runs
                    if r.ok and r.arch == arch and r.entry == library]
            if not mats:
                continue
            total = np.sum(mats, axis=0)
            np.fill_diagonal(total, 0)
            classes = _classes(inputs, total)
            order = np.dstack(np.unravel_index(np.argsort(-total, axis=None, kind="stable"), total.shape))[0]
            for i, j in order[:top]:
                if total[i, j] == 0:
                    break
                rows.append([Cell(arch), Cell(library), Cell(classes[i]), Cell(classes[j]),
                             Cell(str(int(total[i, j])), int(total[i, j])), Cell(str(len(mats)), len(mats))])
    return Table("confused", _("Most-confused class pairs on the validation split (up to {top} per model, "
                               "counts summed over seeds).").format(top=top),
                 [_("Model"), _("Entry"), _("Actual"), _("Predicted"), _("Images"), _("Seeds")], rows, 4)


def _classes(inputs: Inputs, matrix: np.ndarray) -> list[str]:
    names = next((r.metrics.get("classes") for r in inputs.runs if r.ok and r.metrics.get("classes")), None)
    names = names or inputs.classes
    return names if len(names) == len(matrix) else [str(i) for i in range(len(matrix))]


def thesis_table(path: Path) -> Table | None:
    """The thesis's published Table 4.2 (reports/reference/thesis_table_4_2.csv), as printed."""
    if not path.is_file():
        return None
    ref = pd.read_csv(path, comment="#")
    rows = [[Cell(r.arch, r.arch), Cell(r.library, r.library), Cell(f"{r.valid_loss:.3f}", r.valid_loss),
             Cell(f"{r.valid_accuracy:.3f}", r.valid_accuracy),
             Cell(_("{time} ({n} ep.)").format(time=r.phase1_time, n=r.phase1_epochs), _hms(r.phase1_time)),
             Cell(_("{time} ({n} ep.)").format(time=r.phase2_time, n=r.phase2_epochs), _hms(r.phase2_time))]
            for r in ref.itertuples()]
    return Table("thesis", _("The thesis's own published Table 4.2 (Skin Cancer ISIC, one seed, GTX 1070): "
                             "reference values transcribed from the thesis, not computed here. Its Keras "
                             "losses include the L2 penalty and are not comparable with fastai's."),
                 [_("Model"), _("Library"), _("Valid loss"), _("Valid accuracy"), _("Phase 1 time"),
                  _("Phase 2 time")], rows)


def split_name(split: str) -> str:
    """A split's name in the current language (the files keep train/valid/test)."""
    return {"train": _("train"), "valid": _("valid"), "test": _("test")}.get(split, split)


def _hms(text: str) -> int:

    h, m, s = (int(x) for x in text.split(":"))
    return 3600 * h + 60 * m + s


def thesis_frame(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    ref = pd.read_csv(path, comment="#")
    for phase in PHASES:
        ref[f"{phase}_seconds"] = ref[f"{phase}_time"].map(_hms)
    return ref
