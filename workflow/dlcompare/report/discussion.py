"""The memoir's discussion, written from the numbers: who leads on accuracy, loss and time, by
how much, and whether the gap exceeds the seed-to-seed spread. Every sentence is conditional on
the data; there is no verdict that does not come from a comparison made here.

Rule for "exceeds the spread": the gap between two libraries' means is larger than the sum of
their standard deviations over seeds (their mean ± std intervals do not overlap). With one seed
per library the spread is unknown and the text says so.
"""

from __future__ import annotations

import math

import pandas as pd

from dlcompare.report import sidebyside, stats
from dlcompare.report.tables import fmt_seconds


def plural(n: int, word: str, words: str | None = None) -> str:
    """"1 model", "2 models" (never "model(s)")."""
    n = int(n)
    return f"{n} {word if n == 1 else words or word + 's'}"


def _stats(ok: pd.DataFrame, column: str) -> pd.DataFrame:
    s = ok.groupby("entry")[column].agg(["mean", "std", "count"]).dropna(subset=["mean"])
    return s.sort_values("mean", ascending=False)


def _spread(a: pd.Series, b: pd.Series, gap: float, what: str) -> str:
    if min(a["count"], b["count"]) < 2:
        return (f"With {plural(min(a['count'], b['count']), 'seed')} for one of them the seed-to-seed spread "
                f"is unknown, so this {what} gap cannot be told apart from seed noise.")
    spread = a["std"] + b["std"]
    verdict = "larger than" if abs(gap) > spread else "within"
    tail = "" if abs(gap) > spread else " so these seeds do not separate the two libraries"
    return (f"The gap is {verdict} the seed-to-seed spread (standard deviations {a['std']:.3f} and "
            f"{b['std']:.3f}, sum {spread:.3f}){tail}.")


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
               f"{plural(a['count'], 'seed')}, {gap:.3f} ahead of {second} ({b['mean']:.3f} over "
               f"{int(b['count'])})" + then + " " + _spread(a, b, gap, "accuracy")]
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
    epochs = ok.groupby("entry")["epochs"].mean()
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
    for lib, sub in ok.groupby("entry", sort=False):
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
    means = ok.groupby(["arch", "entry"])["valid_accuracy"].mean().unstack()
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
    diff = (ok["reported_valid_loss"] - ok["valid_loss"]).groupby(ok["entry"]).mean().dropna()
    core = ok.groupby("entry")["valid_loss"].mean()
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
        l2 = (params.get(lib) or {}).get("l2")
        why = (f"; {lib} adds its L2 penalty ({lib}.l2 = {l2:g}) to the loss it reports" if
               isinstance(l2, (int, float)) and l2 > 0 else "; its loss is not plain cross-entropy")
        out.append(("but " if close and lib == apart[0] else "") + f"{lib} reports "
                   f"{ok.loc[ok['entry'] == lib, 'reported_valid_loss'].mean():.3f} against a cross-entropy "
                   f"of {core[lib]:.3f} ({diff[lib]:+.3f}){why}.")
    penalty = ok.groupby("entry")["loss_penalty"].mean().dropna() \
        if "loss_penalty" in ok.columns else pd.Series(dtype=float)
    every = ok.groupby("entry")["loss_penalty_all_kernels"].mean() \
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
                     images: int | None = None) -> list[str]:
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
    ours = ok.groupby(["arch", "entry"])["valid_accuracy"].mean().unstack()
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
            pair = ok[ok["arch"].isin(both.index)]
            iv = stats.gap_interval(pair.loc[pair["entry"] == "fastai", "valid_accuracy"],
                                    pair.loc[pair["entry"] == "keras", "valid_accuracy"])
            sure = (f" (95 % interval {iv.text(signed=True).split(' ', 1)[1]})" + (
                    "" if iv.excludes(0) else ", but the interval includes 0, so these seeds do not "
                    "establish it") if iv.known else " (one seed: no interval, so not established)")
            out.append(f"Here ({dataset}, {plural(len(both), 'model')}) the fastai minus Keras gap is "
                       f"{here:+.3f}: {agree}{sure}. Dataset, image size and hardware differ from the "
                       "thesis, so only the direction is comparable, not the size.")
    return out


def write(runs: pd.DataFrame, params: dict, thesis: pd.DataFrame | None, n_classes: int = 0,
          images: int | None = None) -> list[str]:
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
    libraries = list(dict.fromkeys(ok["entry"]))
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
        sentences = accuracy_sentences(arch, sub) + time_sentences(arch, sub)
        sentences.append(target_sentence(arch, sub, target))
        paragraph = " ".join(s for s in sentences if s)
        if paragraph:
            paragraphs.append(paragraph)
    paragraphs += overall_sentences(ok)
    paragraphs += loss_sentences(ok, params, thesis)
    paragraphs += thesis_sentences(ok, thesis, params["data"]["dataset"], n_classes, images)
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
