"""Library-specific results for the memoir, read from what the runs wrote (nothing typed in):

- the loss each library computes for its last epoch (run.json ``extras.<library>_losses`` where
  the plugin keeps it, e.g. Keras's loss with its L2 term; else history.csv) next to the core's
  cross-entropy (metrics.json): they agree when a library's loss is plain cross-entropy and differ
  when it adds something (why the thesis's Keras losses, 5.9-9.5, could not be compared with
  fastai's);
- learning-rate finder suggestions (run.json ``extras.lr_find``, written by fastai when
  ``fastai.use_lr_find``) next to the rates the run actually used;
- every other scalar a plugin reported under run.json ``extras`` (the memoir's appendix).
"""

from __future__ import annotations

import math

import pandas as pd

from dlcompare import glossary as G
from dlcompare.glossary import PHASES
from dlcompare.report.collect import Inputs
from dlcompare.report.i18n import _
from dlcompare.report.tables import Cell, Table, fmt_value, flatten, mean_std, model_groups, recorded_params

LR_FIND = "lr_find"


def _has(runs: pd.DataFrame, column: str) -> bool:
    return column in runs.columns and not runs[column].dropna().empty


def loss_table(inputs: Inputs, runs: pd.DataFrame) -> Table | None:
    """Per model and library: the last-epoch validation loss as the library computes it, the
    core's cross-entropy from the saved probabilities, their difference, the library's training
    loss and, where the plugin reports it, the penalty inside its loss (mean ± std over seeds)."""
    if not _has(runs, "reported_valid_loss"):
        return None
    extra = [(c, label) for c, label in (("loss_penalty", _("L2 term in loss")),
                                         ("loss_penalty_all_kernels", _("L2, every kernel")))
             if _has(runs, c)]
    rows = []
    for arch, library, ok, seeds in model_groups(inputs, runs):
        if ok.empty:
            rows.append([Cell(arch, arch), Cell(library, library), seeds]
                        + [Cell(_("missing"), None, True) for _k in range(4 + len(extra))])
            continue
        rows.append([Cell(arch, arch), Cell(library, library), seeds,
                     mean_std(ok["reported_valid_loss"]), mean_std(ok["valid_loss"]),
                     mean_std(ok["reported_valid_loss"] - ok["valid_loss"]),
                     mean_std(ok["reported_train_loss"])]
                    + [mean_std(ok[c]) if c in ok else Cell("–", None, True) for c, _label in extra])
    caption = [_("Validation loss after the last epoch as each library computes it, against the cross-entropy "
                 "the core computes from the saved probabilities (metrics.json), and each library's own last "
                 "training loss; mean ± std over seeds. A library whose loss adds a penalty (Keras adds its "
                 "L2 term) reports more than the cross-entropy; only the core's column is comparable across "
                 "libraries.")]
    if extra:
        caption.append(_("L2 term in loss: the penalty inside the library's loss at the end of training, as "
                         "its plugin reports it."))
    if len(extra) > 1:
        caption.append(_("L2, every kernel: the same penalty over every kernel, frozen ones included, as "
                         "tf.keras 2 counted it in the thesis."))
    return Table("losses", " ".join(caption),
                 [_("Model"), _("Entry"), _("Seeds"), _("Reported valid loss"), _("Cross-entropy (core)"),
                  _("Difference"), _("Reported train loss")] + [label for _c, label in extra], rows)


def lr_find_runs(inputs: Inputs) -> dict:
    """{(arch, library, phase): [(seed, finder result)]} for every finished run that ran it."""
    found: dict = {}
    for run in inputs.runs:
        results = (run.info.get("extras") or {}).get(LR_FIND) if run.ok else None
        if not isinstance(results, dict):
            continue
        for phase in PHASES:
            result = results.get(phase)
            if isinstance(result, dict) and isinstance(result.get("suggestions"), dict):
                found.setdefault((run.arch, run.entry, phase), []).append((run.seed, result))
    return found


def _rate(values: list[float]) -> Cell:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    if not values:
        return Cell("–", None, missing=True)
    mean = math.exp(sum(map(math.log, values)) / len(values))    # rates vary on a log scale
    lo, hi = min(values), max(values)
    return Cell(f"{lo:.1e}" if f"{lo:.1e}" == f"{hi:.1e}" else f"{lo:.1e}–{hi:.1e}", mean)


def _used_rate(inputs: Inputs, arch: str, entry: str, phase: str, seed):
    """The rate a run trained the phase with: what it recorded, else its entry's settings."""
    for run in inputs.runs:
        if (run.arch, run.entry, run.seed) == (arch, entry, seed):
            recorded = ((run.info.get("extras") or {}).get("learning_rates") or {}).get(phase)
            if isinstance(recorded, dict) and recorded.get("lr") is not None:
                return recorded["lr"]
    return (recorded_params(inputs, entry).get(phase) or {}).get("lr")


def lr_find_table(inputs: Inputs) -> Table | None:
    """The finder's suggestions per model, library and phase (mean, and range over seeds), with
    the learning rate the phase was trained with (the library's params)."""
    found = lr_find_runs(inputs)
    if not found:
        return None
    names = list(dict.fromkeys(name for results in found.values() for _, r in results
                               for name in r["suggestions"]))
    rows = []
    train = inputs.params["train"]
    for arch in train["archs"]:
        for library in G.entries(train):
            for phase in PHASES:
                results = found.get((arch, library, phase))
                if not results:
                    continue
                used = [_used_rate(inputs, arch, library, phase, seed) for seed, _ in results]
                shown = list(dict.fromkeys(fmt_value(u) for u in used))
                rows.append([Cell(arch, arch), Cell(library, library), Cell(phase, phase),
                             Cell(str(len(results)), len(results)),
                             *[_rate([r["suggestions"].get(n) for _, r in results]) for n in names],
                             Cell(" / ".join(shown), used[0] if isinstance(used[0], (int, float)) else None,
                                  missing=all(u is None for u in used))])
    return Table("lr-find", _("Learning-rate finder suggestions recorded before each phase (the range over "
                              "seeds when they differ), next to the rate each phase was trained with, as the "
                              "runs recorded it (the parameters' fixed rates unless the library trained at the "
                              "finder's suggestion)."),
                 [_("Model"), _("Entry"), _("Phase"), _("Seeds"), *names, _("Rate used")], rows, 3)


def _skip(key: str, value) -> bool:
    return key.split(".")[0] == LR_FIND or value is None or isinstance(value, (dict, list, tuple))


def extras_table(inputs: Inputs, limit: int = 40) -> Table | None:
    """Scalar values under run.json ``extras`` per library: one row when every model and seed
    agrees, else one row per model (numbers: mean ± std over seeds)."""
    rows = []
    train = inputs.params["train"]
    for library in G.entries(train):
        values: dict[str, dict[str, list]] = {}
        for arch in train["archs"]:
            for run in inputs.runs:
                if not (run.ok and run.entry == library and run.arch == arch):
                    continue
                for key, value in flatten(run.info.get("extras") or {}).items():
                    if isinstance(value, (list, tuple)) and len(value) <= 6 and all(
                            not isinstance(v, (dict, list, tuple)) for v in value):
                        value = fmt_value(value)
                    if not _skip(key, value):
                        values.setdefault(key, {}).setdefault(arch, []).append(value)
        for key, by_arch in list(values.items())[:limit]:
            distinct = {fmt_value(v) for vs in by_arch.values() for v in vs}
            if len(distinct) == 1:
                rows.append([Cell(library), Cell(_("all")), Cell(key, breakable=True),
                             Cell(next(iter(distinct))[:160], breakable=True)])
                continue
            for arch, vs in by_arch.items():
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vs)
                text = mean_std(pd.Series(vs, dtype=float), lambda v: f"{v:.4g}").text if numeric \
                    else ", ".join(dict.fromkeys(fmt_value(v) for v in vs))
                rows.append([Cell(library), Cell(arch), Cell(key, breakable=True), Cell(text[:160], breakable=True)])
    if not rows:
        return None
    return Table("extras", _("Library-specific settings and results each plugin reported under run.json "
                             "extras (one row when every model and seed agrees; numbers: mean ± std over "
                             "seeds)."), [_("Entry"), _("Model"), _("Key"), _("Value")], rows, 4)

