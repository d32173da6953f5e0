"""The thesis side by side: one row per claim of its chapter 4 (Table 4.2 and the text around
it), the thesis's value, the re-run's with its 95 % interval, whether the two can be compared, and
a verdict. Gaps and ratios between fastai and Keras come from dlcompare.report.comparisons (the
paired bootstrap over seeds and validation images; per model, Holm-corrected); only the base
recipes (entry = library) stand for a library here. A library at chance level is never read as
evidence."""

from __future__ import annotations

import math

import pandas as pd

from dlcompare.report import comparisons, stats
from dlcompare.report.tables import Cell, Table

A, B = "fastai", "keras"          # the thesis compares these two


def chance(classes: int) -> float:
    return 1 / classes if classes else math.nan


def _key(ok: pd.DataFrame) -> str:
    return "entry" if "entry" in ok.columns else "library"


def accuracy(ok: pd.DataFrame, entry: str, images: int | None) -> stats.Interval:
    acc = ok.loc[ok[_key(ok)] == entry, "valid_accuracy"]
    return stats.accuracy_interval(acc, images)


def chance_note(ok: pd.DataFrame, n_classes: int, images: int | None) -> dict[str, stats.Interval]:
    """{entry: accuracy interval} for the entries (libraries' recipes, variants) at chance level."""
    level = chance(n_classes)
    out = {}
    for entry in dict.fromkeys(ok[_key(ok)]):
        interval = accuracy(ok, entry, images)
        if stats.at_chance(interval, level):
            out[entry] = interval
    return out


def _direction_verdict(interval: stats.Interval, null: float, thesis_above: bool, blocked: str = "") -> str:
    """One rule for gaps (null 0) and ratios (null 1): agree only when the interval excludes the
    null and the estimate lies on the thesis's side of it."""
    if blocked:
        return blocked
    if not math.isfinite(interval.estimate):
        return "not run here"
    if not interval.known:
        return "undecided (one seed: no interval)"
    if not interval.excludes(null):
        return f"undecided (the interval includes {null:g})"
    return "agrees (direction)" if (interval.estimate > null) == thesis_above else "contradicts (direction)"


def base_recipes(ok: pd.DataFrame) -> pd.DataFrame:
    """The runs of each library's own recipe (variants left out)."""
    return ok[ok["entry"] == ok["library"]] if "entry" in ok.columns else ok


def table(ok: pd.DataFrame, thesis: pd.DataFrame | None, n_classes: int, images: int | None,
          same_setting: bool, target: float, study: comparisons.Study | None = None) -> Table | None:
    if thesis is None:
        return None
    ok = base_recipes(ok)
    thesis_classes = 7                                   # Skin Cancer ISIC after cleaning (thesis 4.2.1)
    level = chance(n_classes)
    at = chance_note(ok, n_classes, images)
    have = {A, B} <= set(ok["library"])
    blocked = ("not evidence: " + ", ".join(f"{lib} at chance ({iv.text()})" for lib, iv in at.items()
                                            if lib in (A, B))) if any(lib in (A, B) for lib in at) else ""
    comparable = "yes" if same_setting else "direction only: other dataset, budget and hardware"
    rows = [[Cell("Chance level (1 / classes)"), Cell(f"{1 / thesis_classes:.3f} (7 classes)"),
             Cell(f"{level:.3f} ({n_classes} classes)"), Cell("reference"),
             Cell("accuracies at or below it are labelled, not compared")]]

    acc = thesis.pivot(index="arch", columns="library", values="valid_accuracy")
    t_gap = float((acc[A] - acc[B]).mean())
    both = ok[ok["library"].isin([A, B])]
    archs = [a for a in dict.fromkeys(both["arch"]) if {A, B} <= set(both.loc[both["arch"] == a, "library"])]
    pooled = both[both["arch"].isin(archs)]
    gap = comparisons.pooled(study, A, B, comparisons.ACCURACY) if have and archs and study \
        else stats.Interval(math.nan)
    rows.append([Cell(f"{A} ahead of {B} in validation accuracy (mean over models)"),
                 Cell(f"{t_gap:+.3f} ({len(acc)} models, 1 seed)"),
                 Cell(gap.text(signed=True) + f" ({len(archs)} model{'s' if len(archs) != 1 else ''})"
                      if math.isfinite(gap.estimate) else "not run", missing=not math.isfinite(gap.estimate)),
                 Cell(comparable), Cell(_direction_verdict(gap, 0.0, True, blocked))])

    ahead = int((acc[A] > acc[B]).sum())
    per_model = [study.pair(A, B, a, comparisons.ACCURACY) for a in archs] if study else []
    per_model = [c for c in per_model if c is not None]
    lead = sum(c.estimate > 0 for c in per_model)
    sure = sum(c.verdict == comparisons.AHEAD for c in per_model)
    behind = sum(c.verdict == comparisons.BEHIND for c in per_model)
    rows.append([Cell(f"{A} ahead of {B} on every model"), Cell(f"{ahead} of {len(acc)} models"),
                 Cell(f"{lead} of {len(archs)} model{'s' if len(archs) != 1 else ''} "
                      f"({sure} separated ahead, Holm-corrected)") if archs else Cell("not run", missing=True),
                 Cell(comparable),
                 Cell(blocked or ("not run here" if not archs else "agrees" if sure == len(archs)
                                  else "contradicts" if behind else "undecided"))])

    spe = thesis.assign(spe=(thesis["phase1_seconds"] + thesis["phase2_seconds"])
                        / (thesis["phase1_epochs"] + thesis["phase2_epochs"])).groupby("library")["spe"].mean()
    t_ratio = float(spe[B] / spe[A])
    ratio = comparisons.pooled(study, B, A, comparisons.TIME, ratio=True) if have and study \
        else stats.Interval(math.nan)
    rows.append([Cell(f"{B} needs more seconds per epoch than {A} ({B} / {A})"), Cell(f"{t_ratio:.2f}×"),
                 Cell(ratio.text("{:.2f}×") if math.isfinite(ratio.estimate) else "not run",
                      missing=not math.isfinite(ratio.estimate)),
                 Cell("direction only: other hardware and image size"), Cell(_direction_verdict(ratio, 1.0, t_ratio > 1))])

    keras_loss = thesis.loc[thesis["library"] == B, "valid_loss"]
    fastai_loss = thesis.loc[thesis["library"] == A, "valid_loss"]
    k = ok[ok["library"] == B]
    diff = stats.mean_interval(k["reported_valid_loss"] - k["valid_loss"]) \
        if "reported_valid_loss" in ok.columns and len(k) else stats.Interval(math.nan)
    rows.append([Cell(f"{B}'s losses are not comparable with {A}'s (they include L2)"),
                 Cell(f"{B} {keras_loss.min():.3f}–{keras_loss.max():.3f}, "
                      f"{A} {fastai_loss.min():.3f}–{fastai_loss.max():.3f}"),
                 Cell(f"{B}'s own loss minus the cross-entropy: " + diff.text(signed=True)
                      if math.isfinite(diff.estimate) else "not run", missing=not math.isfinite(diff.estimate)),
                 Cell("yes: the same mechanism"),
                 Cell("not run here" if not math.isfinite(diff.estimate) else
                      "agrees: the L2 term inflates the loss" if diff.known and diff.low > 0 else
                      "contradicts" if diff.known and diff.high < 0 else
                      "undecided (one seed: no interval)" if not diff.known else "undecided")])

    reach = {lib: ok.loc[ok["library"] == lib, "epochs_to_target"] for lib in (A, B)}
    def reached(lib):
        r = reach[lib].dropna()
        n = len(reach[lib])
        return f"{lib} never" if r.empty else f"{lib} epoch {r.mean():.1f} ({len(r)} of {n} runs)"
    if have:
        ra, rb = reach[A].dropna(), reach[B].dropna()
        verdict = blocked or ("undecided (neither reached it)" if ra.empty and rb.empty else
                              "agrees" if rb.empty or (not ra.empty and ra.mean() < rb.mean()) else
                              "contradicts" if ra.empty or ra.mean() > rb.mean() else "undecided (a tie)")
        rerun = Cell(f"{reached(A)}, {reached(B)}")
    else:
        verdict, rerun = "not run here", Cell("not run", missing=True)
    rows.append([Cell(f"{A} converges sooner (epochs to validation accuracy {target:g})"),
                 Cell(f"{A} stabilises sooner (one-cycle); text, no number"), rerun,
                 Cell(comparable), Cell(verdict + ("" if verdict.startswith(("not", "undecided")) else
                                                   " (descriptive, no interval)"))])
    return Table("sidebyside", "The thesis side by side: each claim of its chapter 4, the thesis's "
                 "value (one seed, ISIC, GPU), the re-run's with its 95 % confidence interval in brackets "
                 "(bootstrap over seeds and, paired, the validation images; steady-state time over seeds), whether they "
                 f"are comparable, and the verdict. Chance level here is {level:.3f}; a library whose "
                 "share of correct validation predictions (all seeds pooled, exact binomial interval) "
                 "does not exclude it is at chance, and a gap against it is not evidence.",
                 ["Claim (thesis, chapter 4)", "Thesis", "Re-run [95 % CI]", "Comparable?", "Verdict"],
                 rows, text_cols=5)
