"""The memoir's discussion, written from the numbers: who leads on accuracy, loss and time, by
how much, and whether the comparison separates them. Every sentence is conditional on the data;
there is no verdict that does not come from a comparison made here.

Verdicts come from dlcompare.report.comparisons (a paired bootstrap over seeds and validation
images, Holm-corrected): "ahead", "behind" or "not separated" follow only from the interval each
sentence prints. Each kind of sentence is built by one function from one message of the catalog
(dlcompare.report.i18n, placeholders by name), so the Spanish edition says the same thing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dlcompare.host.entries import lookup
from dlcompare.params import deep_merge
from dlcompare.report import comparisons, sidebyside, stats
from dlcompare.report.i18n import N_, _, ngettext
from dlcompare.report.tables import fmt_seconds, split_name


# "1 model", "2 models" (never "model(s)"), in the current language
def n_seeds(n) -> str:
    return ngettext("{n} seed", "{n} seeds", int(n)).format(n=int(n))


def n_models(n) -> str:
    return ngettext("{n} model", "{n} models", int(n)).format(n=int(n))


def n_libraries(n) -> str:
    return ngettext("{n} library", "{n} libraries", int(n)).format(n=int(n))


def n_variants(n) -> str:
    return ngettext("{n} variant", "{n} variants", int(n)).format(n=int(n))


def n_runs(n) -> str:
    return ngettext("{n} run", "{n} runs", int(n)).format(n=int(n))


def both(names) -> str:
    """"a and b and c" in the current language."""
    return _(" and ").join(names)


def _stats(ok: pd.DataFrame, column: str) -> pd.DataFrame:
    s = ok.groupby("entry")[column].agg(["mean", "std", "count"]).dropna(subset=["mean"])
    return s.sort_values("mean", ascending=False)


def _level(c: comparisons.Comparison) -> str:
    return _("{level} % interval {bounds}").format(
        level=f"{100 * c.level:.1f}", bounds=c.interval.text(c.metric.fmt, signed=True).split(" ", 1)[1])


def _difference(c: comparisons.Comparison) -> str:
    return c.interval.text(c.metric.fmt, signed=True).split(" ")[0]


def separated_sentence(c: comparisons.Comparison) -> str:
    """A pair the interval separates, told from the side of the better entry."""
    if c.verdict == comparisons.BEHIND:
        c = comparisons.flipped(c)
    return _("{a} is ahead of {b} in {metric} ({a} minus {b} {difference}, {interval}, Holm-corrected; "
             "P({a} better) = {p}).").format(a=c.a, b=c.b, metric=_(c.metric.label), difference=_difference(c),
                                             interval=_level(c), p=f"{c.p_better:.2f}")


def tied_sentence(metric: comparisons.Metric, tied: list[comparisons.Comparison]) -> str:
    """The pairs the intervals do not separate on one metric, in one sentence."""
    pairs = "; ".join(_("{a} and {b} ({difference}, {interval})").format(
        a=c.a, b=c.b, difference=_difference(c), interval=_level(c)) for c in tied)
    return _("Not separated in {metric} (A minus B, Holm-corrected interval that includes 0): {pairs}.").format(
        metric=_(metric.label), pairs=pairs)


def chance_sentence(c: comparisons.Comparison) -> str:
    return _("The {metric} of {a} and {b} is not compared: {why}, so the gap is not evidence.").format(
        metric=_(c.metric.label), a=c.a, b=c.b, why=c.why)


def unknown_sentence(c: comparisons.Comparison) -> str:
    return _("{a} and {b} get no verdict in {metric} ({why}).").format(a=c.a, b=c.b, metric=_(c.metric.label),
                                                                        why=c.why)


def uncertainty_sentence(arch: str, share: float) -> str:
    """Where the accuracy intervals' width comes from, and so what would narrow them."""
    text = _("On {arch}, {seeds} % of the bootstrap variance of the accuracy differences comes from "
             "seed-to-seed variation and {images} % from the sample of validation images: more seeds would "
             "narrow these intervals most.") if share >= 0.5 else \
        _("On {arch}, {seeds} % of the bootstrap variance of the accuracy differences comes from "
          "seed-to-seed variation and {images} % from the sample of validation images: more validation "
          "images would narrow these intervals most.")
    return text.format(arch=arch, seeds=f"{100 * share:.0f}", images=f"{100 * (1 - share):.0f}")


def comparison_sentences(arch: str, study: comparisons.Study | None) -> list[str]:
    """One sentence per pair of entries on ``arch`` and metric, then where the uncertainty is."""
    if study is None:
        return []
    single = {comparisons.AHEAD: separated_sentence, comparisons.BEHIND: separated_sentence,
              comparisons.AT_CHANCE: chance_sentence, comparisons.UNKNOWN: unknown_sentence}
    mine, out = [c for c in study.comparisons if c.arch == arch], []
    for m in comparisons.METRICS:
        of = [c for c in mine if c.metric is m]
        out += [single[c.verdict](c) for c in of if c.verdict in single]
        tied = [c for c in of if c.verdict == comparisons.TIED]
        if tied:
            out.append(tied_sentence(m, tied))
    shares = [c.seed_share for c in mine if c.metric is comparisons.ACCURACY and math.isfinite(c.seed_share)
              and c.verdict != comparisons.AT_CHANCE]
    if shares:
        out.append(uncertainty_sentence(arch, float(np.mean(shares))))
    return out


def accuracy_sentences(arch: str, ok: pd.DataFrame) -> list[str]:
    acc = _stats(ok, "valid_accuracy")
    if len(acc) < 2:
        return []
    (lead, a), (second, b) = list(acc.iterrows())[:2]
    gap = a["mean"] - b["mean"]
    others = ", ".join(f"{lib} {r['mean']:.3f}" for lib, r in list(acc.iterrows())[2:])
    then = _("; then {others}.").format(others=others) if others else "."
    tie = round(gap, 3) == 0
    if tie:
        out = [_("On {arch}, {lead} and {second} tie on mean validation accuracy at {mean} ({n} and {seeds})").format(
            arch=arch, lead=lead, second=second, mean=f"{a['mean']:.3f}", n=int(a["count"]),
            seeds=n_seeds(b["count"])) + then]
    else:
        out = [_("On {arch}, {lead} has the highest mean validation accuracy, {mean} over {seeds}, {gap} above "
                 "{second} ({second_mean} over {n})").format(
            arch=arch, lead=lead, mean=f"{a['mean']:.3f}", seeds=n_seeds(a["count"]), gap=f"{gap:.3f}",
            second=second, second_mean=f"{b['mean']:.3f}", n=int(b["count"])) + then]
    test = _stats(ok, "test_accuracy")
    if not tie and lead in test.index and second in test.index:
        t_gap = test.loc[lead, "mean"] - test.loc[second, "mean"]
        order = _("The test split shows the same order: {lead} {a}, {second} {b}.") if t_gap > 0 else (
            _("The test split shows a tie: {lead} {a}, {second} {b}.") if t_gap == 0 else
            _("The test split shows the opposite order: {lead} {a}, {second} {b}."))
        out.append(order.format(lead=lead, a=f"{test.loc[lead, 'mean']:.3f}", second=second,
                                b=f"{test.loc[second, 'mean']:.3f}"))
    loss = _stats(ok, "valid_loss").sort_values("mean")
    if len(loss) >= 2:
        (low, la), (high, lb) = list(loss.iterrows())[:2]
        out.append(_("The lowest validation cross-entropy (computed identically for every library) is "
                     "{low}'s, {low_mean}, against {high_mean} for {high}.").format(
            low=low, low_mean=f"{la['mean']:.3f}", high_mean=f"{lb['mean']:.3f}", high=high))
    return out


def time_sentences(arch: str, ok: pd.DataFrame) -> list[str]:
    per_epoch = _stats(ok, "seconds_per_epoch").sort_values("mean")
    if len(per_epoch) < 2:
        return []
    (fast, a), (slow, b) = list(per_epoch.iterrows())[:2]
    out = [_("Per epoch, {fast} trains fastest on {arch}: {a} s against {b} s for {slow} ({ratio}× as long).").format(
        fast=fast, arch=arch, a=f"{a['mean']:.2f}", b=f"{b['mean']:.2f}", slow=slow,
        ratio=f"{b['mean'] / a['mean']:.1f}") if a["mean"] > 0 else ""]
    epochs = ok.groupby("entry")["epochs"].mean()
    total = _stats(ok, "train_seconds").sort_values("mean")
    if epochs.nunique() > 1:
        out.append(_("The libraries ran different numbers of epochs ({epochs}), so total training time ({times}) "
                     "mixes speed with budget; the per-epoch time is the fairer comparison.").format(
            epochs=", ".join(f"{lib} {e:g}" for lib, e in epochs.items()),
            times=", ".join(f"{lib} {fmt_seconds(r['mean'])}" for lib, r in total.iterrows())))
    else:
        out.append(_("With equal epoch budgets the total training time orders them the same way: {times}.").format(
            times=", ".join(f"{lib} {fmt_seconds(r['mean'])}" for lib, r in total.iterrows())))
    return [s for s in out if s]


def target_sentence(arch: str, ok: pd.DataFrame, target: float) -> str:
    parts, never = [], []
    for lib, sub in ok.groupby("entry", sort=False):
        reached = sub["epochs_to_target"].dropna()
        if reached.empty:
            never.append(lib)
        else:
            parts.append((reached.mean(), _("{entry} at epoch {epoch}").format(entry=lib, epoch=f"{reached.mean():g}")
                          + (" " + _("({n} of {of} seeds)").format(n=len(reached), of=len(sub))
                             if len(reached) < len(sub) else "")))
    if not parts and not never:
        return ""
    if not parts:
        return _("No library reached validation accuracy {target} on {arch}.").format(target=f"{target:g}", arch=arch)
    text = ngettext("Validation accuracy {target} was reached on {arch} by {entries}",
                    "Validation accuracy {target} was reached on {arch} by {entries}", len(parts)).format(
        target=f"{target:g}", arch=arch, entries=", ".join(p for _n, p in sorted(parts)))
    return text + (_("; never by {entries}.").format(entries=_(" or ").join(never)) if never else ".")


def overall_sentences(ok: pd.DataFrame) -> list[str]:
    means = ok.groupby(["arch", "entry"])["valid_accuracy"].mean().unstack()
    means = means.dropna(thresh=2)
    if len(means) < 2:
        return []
    best = means.round(3).eq(means.round(3).max(axis=1), axis=0)
    winners = best.apply(lambda row: tuple(row.index[row]) if row.sum() > 1 else (row.idxmax(),), axis=1)
    wins = winners.value_counts()
    text = _("Across the {n} models with at least two libraries, the highest mean validation accuracy goes to "
             "{winners}.").format(n=len(means), winners=", ".join(
                 (_("{entries} (tied) on {models}") if len(libs) > 1 else _("{entries} on {models}")).format(
                     entries=both(libs), models=n_models(n)) for libs, n in wins.items()))
    return [text]


def loss_sentences(ok: pd.DataFrame, params: dict, thesis: pd.DataFrame | None) -> list[str]:
    """Whether the loss each library reports equals the core's cross-entropy (it does when the
    library's loss is plain cross-entropy; Keras adds its L2 penalty)."""
    if "reported_valid_loss" not in ok.columns:
        return []
    diff = (ok["reported_valid_loss"] - ok["valid_loss"]).groupby(ok["entry"]).mean().dropna()
    core = ok.groupby("entry")["valid_loss"].mean()
    if diff.empty:
        return []
    close = [lib for lib, d in diff.items() if abs(d) <= 0.02 + 0.05 * core[lib]]
    apart = [lib for lib in diff.index if lib not in close]
    out = []
    if close:
        who = ", ".join(close[:-1]) + _(" and ") + close[-1] if len(close) > 1 else close[0]
        largest = max(abs(diff[c]) for c in close)
        out.append((ngettext("The last-epoch validation loss reported by {entries} is within {largest} of the "
                             "core's cross-entropy",
                             "The last-epoch validation loss reported by {entries} is within {largest} of the "
                             "core's cross-entropy", len(close)) if round(largest, 3) > 0 else
                    ngettext("The last-epoch validation loss reported by {entries} equals the core's "
                             "cross-entropy to three decimals",
                             "The last-epoch validation loss reported by {entries} equals the core's "
                             "cross-entropy to three decimals", len(close))).format(
                       entries=who, largest=f"{largest:.3f}")
                   + ("." if not apart else ","))
    for lib in apart:
        library = lookup(params, lib).library
        l2 = deep_merge(params.get(library) or {}, lookup(params, lib).overlay).get("l2")
        why = (_("; {entry} adds its L2 penalty ({library}.l2 = {l2}) to the loss it reports").format(
            entry=lib, library=library, l2=f"{l2:g}") if isinstance(l2, (int, float)) and l2 > 0 else
            _("; its loss is not plain cross-entropy"))
        out.append((_("but {entry} reports {reported} against a cross-entropy of {core} ({diff}){why}.")
                    if close and lib == apart[0] else
                    _("{entry} reports {reported} against a cross-entropy of {core} ({diff}){why}.")).format(
            entry=lib, reported=f"{ok.loc[ok['entry'] == lib, 'reported_valid_loss'].mean():.3f}",
            core=f"{core[lib]:.3f}", diff=f"{diff[lib]:+.3f}", why=why))
    penalty = ok.groupby("entry")["loss_penalty"].mean().dropna() \
        if "loss_penalty" in ok.columns else pd.Series(dtype=float)
    every = ok.groupby("entry")["loss_penalty_all_kernels"].mean() \
        if "loss_penalty_all_kernels" in ok.columns else pd.Series(dtype=float)
    for lib, value in penalty.items():
        if value > 0:
            tail = (_("; counted over every kernel, frozen ones included, as tf.keras 2 did in the thesis, "
                      "it would be {value}").format(value=f"{every[lib]:.3f}")
                    if lib in every and pd.notna(every[lib]) else "")
            out.append(_("The L2 term inside {entry}'s loss is {value} at the end of training{tail}.").format(
                entry=lib, value=f"{value:.3f}", tail=tail))
    if apart and thesis is not None and "keras" in apart:
        keras = thesis.loc[thesis["library"] == "keras", "valid_loss"]
        if len(keras):
            out.append(_("This is why the thesis's Keras validation losses ({low} to {high}) could not be "
                         "compared with fastai's; here every comparison of losses uses the core's "
                         "cross-entropy.").format(low=f"{keras.min():.3f}", high=f"{keras.max():.3f}"))
    return [" ".join(out)] if out else []


def thesis_sentences(ok: pd.DataFrame, thesis: pd.DataFrame | None, dataset: str, n_classes: int = 0,
                     images: int | None = None, study: comparisons.Study | None = None) -> list[str]:
    if thesis is None:
        return []
    acc = thesis.pivot(index="arch", columns="library", values="valid_accuracy")
    if not {"fastai", "keras"} <= set(acc.columns):
        return []
    gap = (acc["fastai"] - acc["keras"]).mean()
    pe = thesis.assign(spe=(thesis["phase1_seconds"] + thesis["phase2_seconds"])
                       / (thesis["phase1_epochs"] + thesis["phase2_epochs"])).groupby("library")["spe"].mean()
    out = [_("For reference, the thesis (one seed, ISIC, GPU) reported fastai ahead of Keras in validation "
             "accuracy by {gap} on average over its {n} models, and {ratio}× as many seconds per epoch for "
             "Keras as for fastai.").format(gap=f"{gap:.3f}", n=len(acc), ratio=f"{pe['keras'] / pe['fastai']:.1f}")]
    ours = ok.groupby(["arch", "entry"])["valid_accuracy"].mean().unstack()
    if {"fastai", "keras"} <= set(ours.columns) and ours[["fastai", "keras"]].dropna().shape[0]:
        pair = ours[["fastai", "keras"]].dropna()
        here = (pair["fastai"] - pair["keras"]).mean()
        at = {lib: iv for lib, iv in sidebyside.chance_note(ok, n_classes, images).items()
              if lib in ("fastai", "keras")} if n_classes else {}
        if at:
            who = _(" and ").join(f"{lib} ({iv.text()})" for lib, iv in at.items())
            out.append(ngettext(
                "Here ({dataset}, {models}) the fastai minus Keras gap is {gap}, but {who} is at chance level "
                "(1/{classes} = {chance}, 95 % interval in brackets), so the gap says nothing about the two "
                "libraries and is not read as agreeing with the thesis.",
                "Here ({dataset}, {models}) the fastai minus Keras gap is {gap}, but {who} are at chance level "
                "(1/{classes} = {chance}, 95 % interval in brackets), so the gap says nothing about the two "
                "libraries and is not read as agreeing with the thesis.", len(at)).format(
                dataset=dataset, models=n_models(len(pair)), gap=f"{here:+.3f}", who=who, classes=n_classes,
                chance=f"{1 / n_classes:.3f}"))
        else:
            agree = _("the same direction") if here * gap > 0 else _("the opposite direction")
            iv = comparisons.pooled(study, "fastai", "keras", comparisons.ACCURACY) if study else \
                stats.Interval(math.nan)
            sure = (_(" (95 % interval {bounds})").format(bounds=iv.text(signed=True).split(" ", 1)[1]) + (
                    "" if iv.excludes(0) else _(", but the interval includes 0, so these seeds do not "
                                                "establish it")) if iv.known else
                    _(" (fewer than two seeds: no interval, so not established)"))
            out.append(_("Here ({dataset}, {models}) the fastai minus Keras gap is {gap}: {agree}{sure}. Dataset, "
                         "image size and hardware differ from the thesis, so only the direction is comparable, "
                         "not the size.").format(dataset=dataset, models=n_models(len(pair)), gap=f"{here:+.3f}",
                                                 agree=agree, sure=sure))
    return out


def write(runs: pd.DataFrame, params: dict, thesis: pd.DataFrame | None, n_classes: int = 0,
          images: int | None = None, study: comparisons.Study | None = None) -> list[str]:
    """Paragraphs of plain text (the templates escape them)."""
    ok = runs[runs["status"] == "ok"]
    expected, done = len(runs), len(ok)
    train = params["train"]
    extra = len(train.get("variants") or [])
    what = n_libraries(len(train["libraries"])) + (
        _(" and {variants}").format(variants=n_variants(extra)) if extra else "")
    paragraphs = [_("{done} of the {expected} expected runs finished ({what} × {models} × {seeds}).").format(
        done=done, expected=expected, what=what, models=n_models(len(train["archs"])),
        seeds=n_seeds(len(train["seeds"])))
        + ("" if done == expected else " " + _("Missing runs are left out of every comparison below."))]
    if ok.empty:
        return paragraphs + [_("No run finished, so there are no results to discuss yet.")]
    finished = list(dict.fromkeys(ok["entry"]))
    if len(finished) == 1:
        m = ok["valid_accuracy"]
        paragraphs.append(_("Only {entry} has finished runs, so there is no comparison between libraries; its mean "
                            "validation accuracy is {mean} over {runs}.").format(
            entry=finished[0], mean=f"{m.mean():.3f}", runs=n_runs(len(m))))
    if n_classes:
        at = sidebyside.chance_note(ok, n_classes, images)
        text = _("Chance level is {chance} (1/{classes} classes).").format(chance=f"{1 / n_classes:.3f}",
                                                                          classes=n_classes) + " "
        if at:
            text += _("At chance: {entries}. A gap against a library at chance is not evidence about either "
                      "library.").format(entries="; ".join(
                          _("{entry}, {interval} of its validation predictions right (all seeds, 95 % interval), "
                            "which does not exclude guessing").format(entry=lib, interval=iv.text())
                          for lib, iv in at.items()))
        else:
            text += _("Every library's share of correct validation predictions is above it (95 % interval).")
        paragraphs.append(text)
    target = params.get("report", {}).get("target_accuracy", 0.8)
    for arch in train["archs"]:
        sub = ok[ok["arch"] == arch]
        if sub.empty:
            continue
        sentences = accuracy_sentences(arch, sub) + time_sentences(arch, sub) + comparison_sentences(arch, study)
        sentences.append(target_sentence(arch, sub, target))
        paragraph = " ".join(s for s in sentences if s)
        if paragraph:
            paragraphs.append(paragraph)
    paragraphs += overall_sentences(ok)
    paragraphs += loss_sentences(ok, params, thesis)
    paragraphs += thesis_sentences(ok, thesis, params["data"]["dataset"], n_classes, images, study)
    return [p for p in paragraphs if p and not (isinstance(p, float) and math.isnan(p))]


# split.json's words for a dataset that brings its own test split (dlcompare.data.splitting)
N_("the dataset's own Test folder")


def setup_paragraphs(inputs) -> list[str]:
    """What the data stages did, in words, from results/cleaning.json and split.json."""
    p, out = inputs.params["data"], []
    out.append(_("Dataset: {dataset} (data.dataset), {classes} classes after cleaning, every image decoded once "
                 "and resized to {size}×{size} pixels.").format(dataset=p["dataset"], classes=len(inputs.classes),
                                                               size=p["image_size"]))
    c = inputs.cleaning
    if c and "totals" in c:
        t = c["totals"]
        dropped = ", ".join(_("{name} ({n} images)").format(name=d["class"], n=d["images"])
                            for d in c.get("dropped_classes", []))
        unreadable = t.get("unreadable", 0)
        removed = (
            ngettext("It removed {copies:,} copies of duplicated images ({cross:,} filed under two or more classes, "
                     "where every copy goes because the label cannot be decided; {within:,} repeated within one "
                     "class, where one copy stays) and {unreadable:,} unreadable file.",
                     "It removed {copies:,} copies of duplicated images ({cross:,} filed under two or more classes, "
                     "where every copy goes because the label cannot be decided; {within:,} repeated within one "
                     "class, where one copy stays) and {unreadable:,} unreadable files.", unreadable).format(
                copies=t["duplicates_removed"], cross=t.get("cross_class_duplicates", 0),
                within=t.get("within_class_duplicates", 0), unreadable=unreadable) + " "
            if t["duplicates_removed"] or unreadable else _("It found no duplicated and no unreadable image.") + " ")
        out.append(
            _("Cleaning found {files:,} image files in {classes} classes.").format(
                files=t["before"], classes=t.get("classes_before", "?")) + " " + removed
            + (_("Classes with fewer than {min} images were then dropped: {dropped}.").format(
                min=c.get("min_images_per_class"), dropped=dropped) if dropped else
               _("No class fell below {min} images.").format(min=c.get("min_images_per_class"))) + " "
            + _("{images:,} images in {classes} classes remain.").format(
                images=t.get("kept", t.get("after", 0)), classes=t.get("classes_after", "?")))
    else:
        out.append(_("No cleaning report (results/cleaning.json) was found."))
    s = inputs.split
    if s and "counts" in s:
        n = s["counts"]
        total = n.get("total") or sum(n.get(k, 0) for k in ("train", "valid", "test"))
        share = {k: 100 * n.get(k, 0) / total if total else 0 for k in ("train", "valid", "test")}
        out.append(
            _("Validation takes {fraction} of the training images at random (seed {seed}, {stratified}); test is "
              "{test}. Result: {train:,} train ({train_pct} %), {valid:,} validation ({valid_pct} %) and {test_n:,} "
              "test images ({test_pct} %).").format(
                fraction=s.get("valid_fraction"), seed=s.get("split_seed"),
                stratified=_("stratified by class") if s.get("stratify") else _("not stratified"),
                test=_(s["test"]) if s.get("test") else _("kept from the dataset"),
                train=n.get("train", 0), valid=n.get("valid", 0), test_n=n.get("test", 0),
                **{f"{k}_pct": f"{share[k]:.2f}" for k in ("train", "valid", "test")}))
    elif inputs.split_counts is not None:
        n = inputs.split_counts.sum()
        out.append(_("Split sizes (from the manifest): {sizes}.").format(
            sizes=", ".join(f"{split_name(k)} {int(n[k]):,}" for k in n.index)))
    return out
