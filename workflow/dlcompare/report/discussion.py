"""The memoir's discussion, written from the numbers: who leads on accuracy, loss and time, by
how much, and whether the comparison separates them. Every sentence is conditional on the data;
there is no verdict that does not come from a comparison made here.

Verdicts come from dlcompare.report.comparisons (a paired bootstrap over seeds and validation
images, Holm-corrected): "ahead", "behind" or "not separated" follow only from the interval each
sentence prints. Each kind of sentence is built by one function, so the memoir can be translated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dlcompare.host.entries import lookup
from dlcompare.params import deep_merge
from dlcompare.report import comparisons, sidebyside, stats
from dlcompare.report.tables import fmt_seconds


def _key(ok: pd.DataFrame) -> str:
    """Runs are grouped by entry (a library's recipe or a variant) where the frame has one."""
    return "entry" if "entry" in ok.columns else "library"


def plural(n: int, word: str, words: str | None = None) -> str:
    """"1 model", "2 models" (never "model(s)")."""
    n = int(n)
    return f"{n} {word if n == 1 else words or word + 's'}"


def _stats(ok: pd.DataFrame, column: str) -> pd.DataFrame:
    s = ok.groupby(_key(ok))[column].agg(["mean", "std", "count"]).dropna(subset=["mean"])
    return s.sort_values("mean", ascending=False)


def _level(c: comparisons.Comparison) -> str:
    return f"{100 * c.level:.1f} % interval {c.interval.text(c.metric.fmt, signed=True).split(' ', 1)[1]}"


def _difference(c: comparisons.Comparison) -> str:
    return c.interval.text(c.metric.fmt, signed=True).split(" ")[0]


def separated_sentence(c: comparisons.Comparison) -> str:
    """A pair the interval separates, told from the side of the better entry."""
    if c.verdict == comparisons.BEHIND:
        c = comparisons.flipped(c)
    return (f"{c.a} is ahead of {c.b} in {c.metric.label} ({c.a} minus {c.b} {_difference(c)}, "
            f"{_level(c)}, Holm-corrected; P({c.a} better) = {c.p_better:.2f}).")


def tied_sentence(metric: comparisons.Metric, tied: list[comparisons.Comparison]) -> str:
    """The pairs the intervals do not separate on one metric, in one sentence."""
    pairs = "; ".join(f"{c.a} and {c.b} ({_difference(c)}, {_level(c)})" for c in tied)
    return (f"Not separated in {metric.label} (A minus B, Holm-corrected interval that includes 0): "
            f"{pairs}.")


def chance_sentence(c: comparisons.Comparison) -> str:
    return f"The {c.metric.label} of {c.a} and {c.b} is not compared: {c.why}, so the gap is not evidence."


def unknown_sentence(c: comparisons.Comparison) -> str:
    return f"{c.a} and {c.b} get no verdict in {c.metric.label} ({c.why})."


def uncertainty_sentence(arch: str, share: float) -> str:
    """Where the accuracy intervals' width comes from, and so what would narrow them."""
    more = "seeds" if share >= 0.5 else "validation images"
    return (f"On {arch}, {100 * share:.0f} % of the bootstrap variance of the accuracy differences comes from "
            f"seed-to-seed variation and {100 * (1 - share):.0f} % from the sample of validation images: "
            f"more {more} would narrow these intervals most.")


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
    then = f"; then {others}." if others else "."
    tie = round(gap, 3) == 0
    if tie:
        out = [f"On {arch}, {lead} and {second} tie on mean validation accuracy at {a['mean']:.3f} "
               f"({int(a['count'])} and {plural(b['count'], 'seed')})" + then]
    else:
        out = [f"On {arch}, {lead} has the highest mean validation accuracy, {a['mean']:.3f} over "
               f"{plural(a['count'], 'seed')}, {gap:.3f} above {second} ({b['mean']:.3f} over "
               f"{int(b['count'])})" + then]
    test = _stats(ok, "test_accuracy")
    if not tie and lead in test.index and second in test.index:
        t_gap = test.loc[lead, "mean"] - test.loc[second, "mean"]
        order = "the same order" if t_gap > 0 else ("a tie" if t_gap == 0 else "the opposite order")
        out.append(f"The test split shows {order}: {lead} {test.loc[lead, 'mean']:.3f}, "
                   f"{second} {test.loc[second, 'mean']:.3f}.")
    loss = _stats(ok, "valid_loss").sort_values("mean")
    if len(loss) >= 2:
        (low, la), (high, lb) = list(loss.iterrows())[:2]
        out.append(f"The lowest validation cross-entropy (computed identically for every library) is "
                   f"{low}'s, {la['mean']:.3f}, against {lb['mean']:.3f} for {high}.")
    return out


def time_sentences(arch: str, ok: pd.DataFrame) -> list[str]:
    per_epoch = _stats(ok, "seconds_per_epoch").sort_values("mean")
    if len(per_epoch) < 2:
        return []
    (fast, a), (slow, b) = list(per_epoch.iterrows())[:2]
    out = [f"Per epoch, {fast} trains fastest on {arch}: {a['mean']:.2f} s against {b['mean']:.2f} s "
           f"for {slow} ({b['mean'] / a['mean']:.1f}× as long)." if a["mean"] > 0 else ""]
    epochs = ok.groupby(_key(ok))["epochs"].mean()
    total = _stats(ok, "train_seconds").sort_values("mean")
    if epochs.nunique() > 1:
        out.append("The libraries ran different numbers of epochs (" + ", ".join(
            f"{lib} {e:g}" for lib, e in epochs.items()) + "), so total training time (" + ", ".join(
            f"{lib} {fmt_seconds(r['mean'])}" for lib, r in total.iterrows()) +
            ") mixes speed with budget; the per-epoch time is the fairer comparison.")
    else:
        out.append(f"With equal epoch budgets the total training time orders them the same way: " + ", ".join(
            f"{lib} {fmt_seconds(r['mean'])}" for lib, r in total.iterrows()) + ".")
    return [s for s in out if s]


def target_sentence(arch: str, ok: pd.DataFrame, target: float) -> str:
    parts, never = [], []
    for lib, sub in ok.groupby(_key(ok), sort=False):
        reached = sub["epochs_to_target"].dropna()
        if reached.empty:
            never.append(lib)
        else:
            parts.append((reached.mean(), f"{lib} at epoch {reached.mean():g}"
                          + (f" ({len(reached)} of {len(sub)} seeds)" if len(reached) < len(sub) else "")))
    if not parts and not never:
        return ""
    if not parts:
        return f"No library reached validation accuracy {target:g} on {arch}."
    text = f"Validation accuracy {target:g} was reached on {arch} by " + ", ".join(p for _, p in sorted(parts))
    return text + (f"; never by {' or '.join(never)}." if never else ".")


def overall_sentences(ok: pd.DataFrame) -> list[str]:
    means = ok.groupby(["arch", _key(ok)])["valid_accuracy"].mean().unstack()
    means = means.dropna(thresh=2)
    if len(means) < 2:
        return []
    best = means.round(3).eq(means.round(3).max(axis=1), axis=0)
    winners = best.apply(lambda row: " and ".join(row.index[row]) if row.sum() > 1 else row.idxmax(), axis=1)
    wins = winners.value_counts()
    text = (f"Across the {len(means)} models with at least two libraries, the highest mean validation "
            "accuracy goes to " + ", ".join(
                (f"{lib} (tied) on {plural(n, 'model')}" if " and " in lib else f"{lib} on {plural(n, 'model')}")
                for lib, n in wins.items()) + ".")
    return [text]


def loss_sentences(ok: pd.DataFrame, params: dict, thesis: pd.DataFrame | None) -> list[str]:
    """Whether the loss each library reports equals the core's cross-entropy (it does when the
    library's loss is plain cross-entropy; Keras adds its L2 penalty)."""
    if "reported_valid_loss" not in ok.columns:
        return []
    diff = (ok["reported_valid_loss"] - ok["valid_loss"]).groupby(ok[_key(ok)]).mean().dropna()
    core = ok.groupby(_key(ok))["valid_loss"].mean()
    if diff.empty:
        return []
    close = [lib for lib, d in diff.items() if abs(d) <= 0.02 + 0.05 * core[lib]]
    apart = [lib for lib in diff.index if lib not in close]
    out = []
    if close:
        who = ", ".join(close[:-1]) + " and " + close[-1] if len(close) > 1 else close[0]
        largest = max(abs(diff[c]) for c in close)
        out.append(f"The last-epoch validation loss reported by {who} "
                   + (f"is within {largest:.3f} of the core's cross-entropy" if round(largest, 3) > 0 else
                      "equals the core's cross-entropy to three decimals")
                   + ("." if not apart else ","))
    for lib in apart:
        library = lookup(params, lib).library
        l2 = deep_merge(params.get(library) or {}, lookup(params, lib).overlay).get("l2")
        why = (f"; {lib} adds its L2 penalty ({library}.l2 = {l2:g}) to the loss it reports" if
               isinstance(l2, (int, float)) and l2 > 0 else "; its loss is not plain cross-entropy")
        out.append(("but " if close and lib == apart[0] else "") + f"{lib} reports "
                   f"{ok.loc[ok[_key(ok)] == lib, 'reported_valid_loss'].mean():.3f} against a cross-entropy "
                   f"of {core[lib]:.3f} ({diff[lib]:+.3f}){why}.")
    penalty = ok.groupby(_key(ok))["loss_penalty"].mean().dropna() \
        if "loss_penalty" in ok.columns else pd.Series(dtype=float)
    every = ok.groupby(_key(ok))["loss_penalty_all_kernels"].mean() \
        if "loss_penalty_all_kernels" in ok.columns else pd.Series(dtype=float)
    for lib, value in penalty.items():
        if value > 0:
            tail = (f"; counted over every kernel, frozen ones included, as tf.keras 2 did in the thesis, "
                    f"it would be {every[lib]:.3f}" if lib in every and pd.notna(every[lib]) else "")
            out.append(f"The L2 term inside {lib}'s loss is {value:.3f} at the end of training{tail}.")
    if apart and thesis is not None and "keras" in apart:
        keras = thesis.loc[thesis["library"] == "keras", "valid_loss"]
        if len(keras):
            out.append(f"This is why the thesis's Keras validation losses ({keras.min():.3f} to "
                       f"{keras.max():.3f}) could not be compared with fastai's; here every comparison "
                       "of losses uses the core's cross-entropy.")
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
    out = [f"For reference, the thesis (one seed, ISIC, GPU) reported fastai ahead of Keras in validation "
           f"accuracy by {gap:.3f} on average over its {len(acc)} models, and {pe['keras'] / pe['fastai']:.1f}× "
           "as many seconds per epoch for Keras as for fastai."]
    ours = ok.groupby(["arch", _key(ok)])["valid_accuracy"].mean().unstack()
    if {"fastai", "keras"} <= set(ours.columns) and ours[["fastai", "keras"]].dropna().shape[0]:
        both = ours[["fastai", "keras"]].dropna()
        here = (both["fastai"] - both["keras"]).mean()
        at = {lib: iv for lib, iv in sidebyside.chance_note(ok, n_classes, images).items()
              if lib in ("fastai", "keras")} if n_classes else {}
        if at:
            who = " and ".join(f"{lib} ({iv.text()})" for lib, iv in at.items())
            out.append(f"Here ({dataset}, {plural(len(both), 'model')}) the fastai minus Keras gap is "
                       f"{here:+.3f}, but {who} {'is' if len(at) == 1 else 'are'} at chance level "
                       f"(1/{n_classes} = {1 / n_classes:.3f}, 95 % interval in brackets), so the gap says "
                       "nothing about the two libraries and is not read as agreeing with the thesis.")
        else:
            agree = "the same direction" if here * gap > 0 else "the opposite direction"
            iv = comparisons.pooled(study, "fastai", "keras", comparisons.ACCURACY) if study else \
                stats.Interval(math.nan)
            sure = (f" (95 % interval {iv.text(signed=True).split(' ', 1)[1]})" + (
                    "" if iv.excludes(0) else ", but the interval includes 0, so these seeds do not "
                    "establish it") if iv.known else " (fewer than two seeds: no interval, so not established)")
            out.append(f"Here ({dataset}, {plural(len(both), 'model')}) the fastai minus Keras gap is "
                       f"{here:+.3f}: {agree}{sure}. Dataset, image size and hardware differ from the "
                       "thesis, so only the direction is comparable, not the size.")
    return out


def write(runs: pd.DataFrame, params: dict, thesis: pd.DataFrame | None, n_classes: int = 0,
          images: int | None = None, study: comparisons.Study | None = None) -> list[str]:
    """Paragraphs of plain text (the templates escape them)."""
    ok = runs[runs["status"] == "ok"]
    expected, done = len(runs), len(ok)
    train = params["train"]
    variants = len(train.get("variants") or [])
    what = plural(len(train["libraries"]), "library", "libraries") + (
        f" and {plural(variants, 'variant')}" if variants else "")
    paragraphs = [f"{done} of the {expected} expected runs finished ({what}"
                  f" × {plural(len(train['archs']), 'model')} × {plural(len(train['seeds']), 'seed')})."
                  + ("" if done == expected else " Missing runs are left out of every comparison below.")]
    if ok.empty:
        return paragraphs + ["No run finished, so there are no results to discuss yet."]
    libraries = list(dict.fromkeys(ok[_key(ok)]))
    if len(libraries) == 1:
        m = ok["valid_accuracy"]
        paragraphs.append(f"Only {libraries[0]} has finished runs, so there is no comparison between "
                          f"libraries; its mean validation accuracy is {m.mean():.3f} over {plural(len(m), 'run')}.")
    if n_classes:
        at = sidebyside.chance_note(ok, n_classes, images)
        text = (f"Chance level is {1 / n_classes:.3f} (1/{n_classes} classes). ")
        if at:
            text += ("At chance: " + "; ".join(f"{lib}, {iv.text()} of its validation predictions right "
                                                "(all seeds, 95 % interval), which does not exclude guessing"
                                                for lib, iv in at.items())
                     + ". A gap against a library at chance is not evidence about either library.")
        else:
            text += "Every library's share of correct validation predictions is above it (95 % interval)."
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


def setup_paragraphs(inputs) -> list[str]:
    """What the data stages did, in words, from results/cleaning.json and split.json."""
    p, out = inputs.params["data"], []
    out.append(f"Dataset: {p['dataset']} (data.dataset), {len(inputs.classes)} classes after cleaning, "
               f"every image decoded once and resized to {p['image_size']}×{p['image_size']} pixels.")
    c = inputs.cleaning
    if c and "totals" in c:
        t = c["totals"]
        dropped = ", ".join(f"{d['class']} ({d['images']} images)" for d in c.get("dropped_classes", []))
        unreadable = t.get("unreadable", 0)
        removed = (
            f"It removed {t['duplicates_removed']:,} copies of duplicated images "
            f"({t.get('cross_class_duplicates', 0):,} filed under two or more classes, where every copy goes "
            f"because the label cannot be decided; {t.get('within_class_duplicates', 0):,} repeated within one "
            f"class, where one copy stays) and {unreadable:,} unreadable file{'' if unreadable == 1 else 's'}. "
            if t["duplicates_removed"] or unreadable else "It found no duplicated and no unreadable image. ")
        out.append(
            f"Cleaning found {t['before']:,} image files in {t.get('classes_before', '?')} classes. " + removed
            + (f"Classes with fewer than {c.get('min_images_per_class')} images were then dropped: {dropped}. "
               if dropped else f"No class fell below {c.get('min_images_per_class')} images. ")
            + f"{t.get('kept', t.get('after', 0)):,} images in {t.get('classes_after', '?')} classes remain.")
    else:
        out.append("No cleaning report (results/cleaning.json) was found.")
    s = inputs.split
    if s and "counts" in s:
        n = s["counts"]
        total = n.get("total") or sum(n.get(k, 0) for k in ("train", "valid", "test"))
        share = {k: 100 * n.get(k, 0) / total if total else 0 for k in ("train", "valid", "test")}
        out.append(
            f"Validation takes {s.get('valid_fraction')} of the training images at random (seed "
            f"{s.get('split_seed')}, {'stratified by class' if s.get('stratify') else 'not stratified'}); "
            f"test is {s.get('test', 'kept from the dataset')}. Result: {n.get('train', 0):,} train "
            f"({share['train']:.2f} %), {n.get('valid', 0):,} validation ({share['valid']:.2f} %) and "
            f"{n.get('test', 0):,} test images ({share['test']:.2f} %).")
    elif inputs.split_counts is not None:
        n = inputs.split_counts.sum()
        out.append("Split sizes (from the manifest): " + ", ".join(f"{k} {int(n[k]):,}" for k in n.index) + ".")
    return out
