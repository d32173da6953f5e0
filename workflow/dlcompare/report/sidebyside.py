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
from dlcompare.report.i18n import N_, _, ngettext
from dlcompare.report.tables import Cell, Table

A, B = "fastai", "keras"          # the thesis compares these two


def models(n: int) -> str:
    return ngettext("{n} model", "{n} models", n).format(n=n)


def chance(classes: int) -> float:
    return 1 / classes if classes else math.nan


def accuracy(ok: pd.DataFrame, entry: str, images: int | None) -> stats.Interval:
    acc = ok.loc[ok["entry"] == entry, "valid_accuracy"]
    return stats.accuracy_interval(acc, images)


def chance_note(ok: pd.DataFrame, n_classes: int, images: int | None) -> dict[str, stats.Interval]:
    """{entry: accuracy interval} for the entries (libraries' recipes, variants) at chance level."""
    level = chance(n_classes)
    out = {}
    for entry in dict.fromkeys(ok["entry"]):
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
        return _("not run here")
    if not interval.known:
        return _("undecided (one seed: no interval)")
    if not interval.excludes(null):
        return _("undecided (the interval includes {null})").format(null=f"{null:g}")
    return _("agrees (direction)") if (interval.estimate > null) == thesis_above else _("contradicts (direction)")


def base_recipes(ok: pd.DataFrame) -> pd.DataFrame:
    """The runs of each library's own recipe (variants left out)."""
    return ok[ok["entry"] == ok["library"]]


def table(ok: pd.DataFrame, thesis: pd.DataFrame | None, n_classes: int, images: int | None,
          same_setting: bool, target: float, study: comparisons.Study | None = None) -> Table | None:
    if thesis is None:
        return None
    ok = base_recipes(ok)
    thesis_classes = 7                                   # Skin Cancer ISIC after cleaning (thesis 4.2.1)
    level = chance(n_classes)
    at = chance_note(ok, n_classes, images)
    have = {A, B} <= set(ok["library"])
    blocked = _("not evidence: {entries}").format(entries=", ".join(
        _("{entry} at chance ({interval})").format(entry=lib, interval=iv.text()) for lib, iv in at.items()
        if lib in (A, B))) if any(lib in (A, B) for lib in at) else ""
    comparable = _("yes") if same_setting else _("direction only: other dataset, budget and hardware")
    rows = [[Cell(_("Chance level (1 / classes)")),
             Cell(_("{chance} ({n} classes)").format(chance=f"{1 / thesis_classes:.3f}", n=thesis_classes)),
             Cell(_("{chance} ({n} classes)").format(chance=f"{level:.3f}", n=n_classes)), Cell(_("reference")),
             Cell(_("accuracies at or below it are labelled, not compared"))]]

    acc = thesis.pivot(index="arch", columns="library", values="valid_accuracy")
    t_gap = float((acc[A] - acc[B]).mean())
    both = ok[ok["library"].isin([A, B])]
    archs = [a for a in dict.fromkeys(both["arch"]) if {A, B} <= set(both.loc[both["arch"] == a, "library"])]
    pooled = both[both["arch"].isin(archs)]
    gap = comparisons.pooled(study, A, B, comparisons.ACCURACY) if have and archs and study \
        else stats.Interval(math.nan)
    rows.append([Cell(_("{a} ahead of {b} in validation accuracy (mean over models)").format(a=A, b=B)),
                 Cell(_("{gap} ({n} models, 1 seed)").format(gap=f"{t_gap:+.3f}", n=len(acc))),
                 Cell(gap.text(signed=True) + " (" + models(len(archs)) + ")"
                      if math.isfinite(gap.estimate) else _("not run"), missing=not math.isfinite(gap.estimate)),
                 Cell(comparable), Cell(_direction_verdict(gap, 0.0, True, blocked))])

    ahead = int((acc[A] > acc[B]).sum())
    per_model = [study.pair(A, B, a, comparisons.ACCURACY) for a in archs] if study else []
    per_model = [c for c in per_model if c is not None]
    lead = sum(c.estimate > 0 for c in per_model)
    sure = sum(c.verdict == comparisons.AHEAD for c in per_model)
    behind = sum(c.verdict == comparisons.BEHIND for c in per_model)
    rows.append([Cell(_("{a} ahead of {b} on every model").format(a=A, b=B)),
                 Cell(_("{n} of {models}").format(n=ahead, models=models(len(acc)))),
                 Cell(_("{n} of {models} ({sure} separated ahead, Holm-corrected)").format(
                     n=lead, models=models(len(archs)), sure=sure)) if archs else Cell(_("not run"), missing=True),
                 Cell(comparable),
                 Cell(blocked or (_("not run here") if not archs else _("agrees") if sure == len(archs)
                                  else _("contradicts") if behind else _("undecided")))])

    spe = thesis.assign(spe=(thesis["phase1_seconds"] + thesis["phase2_seconds"])
                        / (thesis["phase1_epochs"] + thesis["phase2_epochs"])).groupby("library")["spe"].mean()
    t_ratio = float(spe[B] / spe[A])
    ratio = comparisons.pooled(study, B, A, comparisons.TIME, ratio=True) if have and study \
        else stats.Interval(math.nan)
    rows.append([Cell(_("{b} needs more seconds per epoch than {a} ({b} / {a})").format(a=A, b=B)),
                 Cell(f"{t_ratio:.2f}×"),
                 Cell(ratio.text("{:.2f}×") if math.isfinite(ratio.estimate) else _("not run"),
                      missing=not math.isfinite(ratio.estimate)),
                 Cell(_("direction only: other hardware and image size")),
                 Cell(_direction_verdict(ratio, 1.0, t_ratio > 1))])

    keras_loss = thesis.loc[thesis["library"] == B, "valid_loss"]
    fastai_loss = thesis.loc[thesis["library"] == A, "valid_loss"]
    k = ok[ok["library"] == B]
    diff = stats.mean_interval(k["reported_valid_loss"] - k["valid_loss"]) \
        if "reported_valid_loss" in ok.columns and len(k) else stats.Interval(math.nan)
    rows.append([Cell(_("{b}'s losses are not comparable with {a}'s (they include L2)").format(a=A, b=B)),
                 Cell(f"{B} {keras_loss.min():.3f}–{keras_loss.max():.3f}, "
                      f"{A} {fastai_loss.min():.3f}–{fastai_loss.max():.3f}"),
                 Cell(_("{b}'s own loss minus the cross-entropy: {diff}").format(b=B, diff=diff.text(signed=True))
                      if math.isfinite(diff.estimate) else _("not run"), missing=not math.isfinite(diff.estimate)),
                 Cell(_("yes: the same mechanism")),
                 Cell(_("not run here") if not math.isfinite(diff.estimate) else
                      _("agrees: the L2 term inflates the loss") if diff.known and diff.low > 0 else
                      _("contradicts") if diff.known and diff.high < 0 else
                      _("undecided (one seed: no interval)") if not diff.known else _("undecided"))])

    reach = {lib: ok.loc[ok["library"] == lib, "epochs_to_target"] for lib in (A, B)}
    def reached(lib):
        r = reach[lib].dropna()
        n = len(reach[lib])
        return _("{entry} never").format(entry=lib) if r.empty else ngettext(
            "{entry} epoch {epoch} ({n} of {of} run)", "{entry} epoch {epoch} ({n} of {of} runs)", n).format(
            entry=lib, epoch=f"{r.mean():.1f}", n=len(r), of=n)
    if have:
        ra, rb = reach[A].dropna(), reach[B].dropna()
        # the reading's code (English), then its words: only agreeing or contradicting is descriptive
        reading = blocked or (N_("undecided (neither reached it)") if ra.empty and rb.empty else
                              N_("agrees") if rb.empty or (not ra.empty and ra.mean() < rb.mean()) else
                              N_("contradicts") if ra.empty or ra.mean() > rb.mean() else N_("undecided (a tie)"))
        verdict = reading if blocked else _(reading)
        rerun = Cell(f"{reached(A)}, {reached(B)}")
    else:
        reading, verdict, rerun = "not run here", _("not run here"), Cell(_("not run"), missing=True)
    rows.append([Cell(_("{a} converges sooner (epochs to validation accuracy {target})").format(
                     a=A, target=f"{target:g}")),
                 Cell(_("{a} stabilises sooner (one-cycle); text, no number").format(a=A)), rerun,
                 Cell(comparable), Cell(verdict + ("" if blocked or reading.startswith(("not", "undecided")) else
                                                   " " + _("(descriptive, no interval)")))])
    return Table("sidebyside", _("The thesis side by side: each claim of its chapter 4, the thesis's value (one seed, "
                                 "ISIC, GPU), the re-run's with its 95 % confidence interval in brackets (bootstrap "
                                 "over seeds and, paired, the validation images; steady-state time over seeds), "
                                 "whether they are comparable, and the verdict. Chance level here is {chance}; a "
                                 "library whose share of correct validation predictions (all seeds pooled, exact "
                                 "binomial interval) does not exclude it is at chance, and a gap against it is not "
                                 "evidence.").format(chance=f"{level:.3f}"),
                 [_("Claim (thesis, chapter 4)"), _("Thesis"), _("Re-run [95 % CI]"), _("Comparable?"), _("Verdict")],
                 rows, text_cols=5)
