"""The memoir's figures (seaborn on matplotlib's Agg backend), each saved as PNG (HTML) and PDF
(LaTeX) under figures/: Figure 4.1 (images per class), the results overview, per-model training
curves with the libraries side by side (Figure 4.2 / Appendix A), and confusion matrices."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from dlcompare import glossary as G  # noqa: E402
from dlcompare.glossary import PHASES, SPLITS  # noqa: E402
from dlcompare.report.collect import Inputs, own_losses  # noqa: E402
from dlcompare.report.extras import lr_find_runs  # noqa: E402
from dlcompare.report.i18n import N_, _, language, ngettext  # noqa: E402
from dlcompare.report.tables import split_name  # noqa: E402


@dataclasses.dataclass
class Figure:
    name: str          # file stem under figures/ (a safe slug)
    caption: str
    png: str           # paths relative to the build directory
    pdf: str
    data_uri: str = ""  # the PNG inlined for the standalone HTML
    legend: list[str] = dataclasses.field(default_factory=list)   # legend texts, for the tests


# Vector fonts (TrueType, Type 42) in the PDFs, not Type 3 bitmaps; one font size for every figure
# (the figures are drawn at about the width they are printed at, 7.5 in).
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
      "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8}
WIDTH = 7.5
# Training curves: how each series is drawn; the caption is written from the same table.
SERIES = {"train": ("--", N_("dashed")), "valid": ("-", N_("solid"))}
SEED_MARKERS = "osD^vP*X"


def theme(style: str = "whitegrid") -> None:
    sns.set_theme(style=style, context="paper", rc=RC)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for leg in ([ax.get_legend()] if ax.get_legend() else [])
            for t in leg.get_texts()] + [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def text(label) -> str:
    """Matplotlib reads $...$ as mathtext: escape it so any class name prints as written."""
    return str(label).replace("$", r"\$")


def save(fig, out: Path, name: str, caption: str) -> Figure:
    """figures/<name>.png|pdf; another language's edition draws its own under figures/<lang>/."""
    sub = "figures" if language() == "en" else f"figures/{language()}"
    folder = out / sub
    folder.mkdir(parents=True, exist_ok=True)
    legend = legend_texts(fig)
    fig.savefig(folder / f"{name}.png", dpi=130, bbox_inches="tight")
    fig.savefig(folder / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(fig)
    return Figure(name, caption, f"{sub}/{name}.png", f"{sub}/{name}.pdf", legend=legend)


def slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower())


def palette(libraries: list[str]) -> dict:
    return dict(zip(libraries, sns.color_palette("colorblind", max(len(libraries), 3))))


def dataset_figure(inputs: Inputs, out: Path) -> Figure | None:
    """Figure 4.1: (a) images per class before and after cleaning, (b) per split."""
    rows = []
    for name, c in ((inputs.cleaning or {}).get("classes") or {}).items():
        rows += [(name, "(a) " + _("before cleaning"), c.get("before", 0)),
                 (name, "(a) " + _("after de-duplication"), c.get("after", 0))]
    if inputs.split_counts is not None:
        for name, counts in inputs.split_counts.iterrows():
            rows += [(name, f"(b) {split_name(split)}", int(counts[split])) for split in SPLITS]
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["class", "stage", "images"])
    frame["class"] = frame["class"].map(text)
    panels = [p for p in ("(a)", "(b)") if frame["stage"].str.startswith(p).any()]
    n_classes = frame["class"].nunique()
    theme()
    fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH, len(panels) * (0.35 * n_classes + 1.4)),
                             squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        sub = frame[frame["stage"].str.startswith(panel)].copy()
        sub["stage"] = sub["stage"].str[4:]
        sns.barplot(data=sub, y="class", x="images", hue="stage", orient="h", ax=ax,
                    palette="colorblind")
        ax.set_title({"(a)": "(a) " + _("the dataset as downloaded and after de-duplication"),
                      "(b)": "(b) " + _("the classes kept, per split")}[panel], loc="left")
        ax.set_ylabel("")
        ax.set_xlabel(_("images"))
        ax.legend(title="", loc="lower right", fontsize="small")
    fig.tight_layout()
    return save(fig, out, "dataset", _("Images per class (Figure 4.1 analogue): (a) before cleaning and "
                                       "after removing duplicates, (b) in the train, validation and test "
                                       "splits of the classes kept."))


def overview_figure(inputs: Inputs, runs: pd.DataFrame, out: Path) -> Figure | None:
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return None
    libraries = G.entries(inputs.params["train"])
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for ax, column, label in ((axes[0], "valid_accuracy", _("validation accuracy")),
                              (axes[1], "seconds_per_epoch", _("training seconds per epoch"))):
        kwargs = dict(data=ok, x="arch", y=column, hue="entry", hue_order=libraries,
                      order=inputs.params["train"]["archs"], palette=palette(libraries), ax=ax)
        several = len(libraries) > 1          # seaborn cannot dodge a single hue level
        sns.stripplot(dodge=several, alpha=0.6, legend=False, **kwargs)
        sns.pointplot(dodge=0.55 if several else False, errorbar="sd", linestyle="none", markers="D",
                      **kwargs)
        ax.set_xlabel("")
        ax.set_ylabel(label)
        ax.legend(title="", fontsize="small")
    fig.tight_layout()
    return save(fig, out, "overview", _("Validation accuracy and training time per epoch, per model and "
                                        "library: one dot per seed, diamonds with bars are mean ± standard "
                                        "deviation."))


def core_train_loss(run) -> list[float]:
    """Training cross-entropy per epoch: history.csv's train_loss, less the penalty a library adds
    to its loss where its plugin records it (Keras: the L2 term at the epoch's end)."""
    loss = run.history["train_loss"].astype(float).tolist()
    own = own_losses(run)
    if own and len(own) == len(loss):
        penalty = [r.get(f"l2_{run.library}") for r in own]
        if all(isinstance(v, (int, float)) for v in penalty):
            return [a - b for a, b in zip(loss, penalty)]
    return loss


def curves_figure(inputs: Inputs, arch: str, out: Path) -> Figure | None:
    """Cross-entropy (top: train and validation) and validation accuracy (bottom) per epoch; one
    column per library, one colour and marker per seed; the dotted line marks phase 2."""
    libraries = G.entries(inputs.params["train"])
    target = inputs.params.get("report", {}).get("target_accuracy")
    runs = {lib: [r for r in inputs.runs if r.arch == arch and r.entry == lib and r.history is not None]
            for lib in libraries}
    if not any(runs.values()):
        return None
    seeds = sorted({r.seed for rs in runs.values() for r in rs})
    colours = dict(zip(seeds, sns.color_palette("colorblind", max(len(seeds), 3))))
    markers = {s: SEED_MARKERS[i % len(SEED_MARKERS)] for i, s in enumerate(seeds)}
    theme()
    fig, axes = plt.subplots(2, len(libraries), figsize=(min(WIDTH, 2.5 * len(libraries) + 0.7), 5.0),
                             squeeze=False, sharex="col")
    for k, lib in enumerate(libraries):
        top, bottom = axes[0, k], axes[1, k]
        top.set_title(text(lib))
        if not runs[lib]:
            for ax in (top, bottom):
                ax.text(0.5, 0.5, _("no finished run"), ha="center", va="center", transform=ax.transAxes)
            continue
        for run in runs[lib]:
            h, style = run.history, dict(color=colours[run.seed], marker=markers[run.seed], markersize=3.5)
            top.plot(h["step"], core_train_loss(run), linestyle=SERIES["train"][0], **style)
            top.plot(h["step"], h["valid_loss"], linestyle=SERIES["valid"][0], **style)
            bottom.plot(h["step"], h["valid_accuracy"], linestyle="-", **style)
            switch = h.loc[h["phase"] == "phase1", "step"].max()
            if pd.notna(switch) and (h["phase"] == "phase2").any():
                for ax in (top, bottom):
                    ax.axvline(switch + 0.5, color="gray", linestyle=":", linewidth=1)
        if target:
            bottom.axhline(target, color="gray", linestyle="--", linewidth=0.8)
        for ax in (top, bottom):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        bottom.set_ylabel(_("validation accuracy") if k == 0 else "")
        bottom.set_xlabel(_("epoch"))
        top.set_ylabel(_("cross-entropy") if k == 0 else "")
    handles = [Line2D([], [], color=colours[s], marker=markers[s], linestyle="-",
                      label=_("seed {seed}").format(seed=s)) for s in seeds]
    handles += [Line2D([], [], color="black", linestyle=ls, label=f"{name} ({_(words)})")
                for name, (ls, words) in ((_("train"), SERIES["train"]), (_("validation"), SERIES["valid"]))]
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    return save(fig, out, f"curves-{slug(arch)}", _(
        "Training curves of {arch}, libraries side by side: cross-entropy computed the same way for every "
        "library (top; train {train}, validation {valid}; a library's own loss, Keras's with its L2 term, is "
        "in its own figure) and validation accuracy (bottom) per epoch across both phases, one colour and "
        "marker per seed. The dotted vertical line marks the start of phase 2 (fine-tuning); the dashed "
        "horizontal line in the accuracy panels is report.target_accuracy.").format(
            arch=arch, train=_(SERIES['train'][1]), valid=_(SERIES['valid'][1])))


def confusion_figure(inputs: Inputs, arch: str, out: Path) -> Figure | None:
    """Validation confusion matrices as shares of each actual class, two per row at a size where
    the numbers stay legible in print, with one colour bar."""
    libraries = G.entries(inputs.params["train"])
    mats = {}
    for lib in libraries:
        found = [np.asarray(r.metrics["valid"]["confusion_matrix"]) for r in inputs.runs
                 if r.ok and r.arch == arch and r.entry == lib]
        if found:
            mats[lib] = (np.sum(found, axis=0), len(found))
    if not mats:
        return None
    n = len(next(iter(mats.values()))[0])
    names = next((r.metrics.get("classes") for r in inputs.runs if r.ok and r.metrics.get("classes")),
                 None) or inputs.classes
    names = [text(c) for c in names] if len(names) == n else [str(i) for i in range(n)]
    cols = min(2, len(mats))
    rows = (len(mats) + cols - 1) // cols
    side = (WIDTH - 0.8) / cols
    theme("white")
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, side * rows + 0.3), squeeze=False)
    image = None
    for ax, (lib, (matrix, seeds)) in zip(axes.flat, mats.items()):
        totals = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        percent = np.rint(100 * share).astype(int)        # "95" reads better than "0.95" at 7 pt
        sns.heatmap(share, annot=percent if n <= 15 else False, fmt="d", cmap="Blues", vmin=0, vmax=1,
                    cbar=False, square=True,
                    xticklabels=names, yticklabels=names, ax=ax,
                    annot_kws={"fontsize": 7 if n > 8 else 8})
        image = ax.collections[0]
        ax.set_title(f"{text(lib)} ({ngettext('{n} seed', '{n} seeds', seeds).format(n=seeds)})")
        ax.set_xlabel(_("predicted"))
        ax.set_ylabel(_("actual") if ax in axes[:, 0] else "")
        ax.tick_params(axis="x", labelrotation=90)
        ax.tick_params(axis="y", labelrotation=0)
    for ax in list(axes.flat)[len(mats):]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    bar = fig.colorbar(image, ax=list(axes.flat), fraction=0.04, pad=0.03)
    bar.set_label(_("share of the actual class"))
    return save(fig, out, f"confusion-{slug(arch)}", _(
        "Confusion matrices of {arch} on the validation split, summed over seeds: each cell is the share of "
        "the images of an actual class (row) predicted as each class (column), printed as a percentage (rows "
        "sum to 100); the colour bar maps shading to share.").format(arch=arch))


def own_losses_figure(inputs: Inputs, out: Path) -> Figure | None:
    """Per epoch, the validation loss as a library computes it (Keras: cross-entropy plus its L2
    term) against the core's cross-entropy, and the penalty itself: the thesis's Keras losses of
    5.9-9.5 next to fastai's 0.4-0.5, explained. One panel per model."""
    archs = inputs.params["train"]["archs"]
    found = {arch: [(r, own_losses(r)) for r in inputs.runs if r.ok and r.arch == arch and own_losses(r)]
             for arch in archs}
    archs = [a for a in archs if found[a]]
    if not archs:
        return None
    cols = min(3, len(archs))
    rows = (len(archs) + cols - 1) // cols
    theme()
    fig, axes = plt.subplots(rows, cols, figsize=(min(WIDTH, 3.6 * cols + 1.2), 3.0 * rows), squeeze=False)
    colours = sns.color_palette("colorblind", 4)
    for ax, arch in zip(axes.flat, archs):
        for run, own in found[arch]:
            lib, steps = run.library, np.arange(1, len(own) + 1)
            first = run is found[arch][0][0]
            ax.plot(steps, [r[f"{lib}_valid_loss"] for r in own], color=colours[0], marker="o", markersize=3,
                    label=_("{library}'s own validation loss").format(library=text(lib)) if first else None)
            penalty = [r.get(f"l2_{lib}") for r in own]
            if all(isinstance(v, (int, float)) for v in penalty):
                ax.plot(steps, penalty, color=colours[2], linestyle=":", label=_("its L2 term") if first else None)
            if run.history is not None and len(run.history) == len(own):
                ax.plot(steps, run.history["valid_loss"], color=colours[1], linestyle="--", marker="o",
                        markersize=3, label=_("cross-entropy (core)") if first else None)
        ax.set_title(text(arch))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(_("epoch (phase 1, then phase 2)"))
        ax.set_ylabel(_("validation loss"))
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(archs):]:
        ax.set_visible(False)
    fig.tight_layout()
    return save(fig, out, "own-losses", _(
        "Validation loss per epoch as the library computes it (solid), its L2 term (dotted) and the "
        "cross-entropy of the same predictions (dashed), one line per seed: the library's own loss is not "
        "comparable across libraries, the cross-entropy is."))


def lr_find_figure(inputs: Inputs, out: Path) -> Figure | None:
    """The learning-rate finder's loss curves (one panel per library and phase, one line per model
    and seed) with the ``valley`` suggestion marked, as fastai's ``lr_find`` plots them."""
    found = lr_find_runs(inputs)
    curves = {key: [(seed, r) for seed, r in results if isinstance(r.get("curve"), dict)]
              for key, results in found.items()}
    libraries = [lib for lib in G.entries(inputs.params["train"])
                 if any(curves.get((a, lib, p)) for a in inputs.params["train"]["archs"] for p in PHASES)]
    if not libraries:
        return None
    theme()
    fig, axes = plt.subplots(len(libraries), len(PHASES), figsize=(WIDTH, 2.9 * len(libraries)), squeeze=False)
    colours = dict(zip(inputs.params["train"]["archs"], sns.color_palette("colorblind", 10)))
    for row, lib in enumerate(libraries):
        for col, phase in enumerate(PHASES):
            ax = axes[row, col]
            for arch in inputs.params["train"]["archs"]:
                for k, (seed, result) in enumerate(curves.get((arch, lib, phase), [])):
                    pairs = [(lr, loss) for lr, loss in zip(result["curve"].get("lr") or [],
                                                            result["curve"].get("loss") or [])
                             if lr and loss is not None and np.isfinite(loss) and lr > 0]
                    if not pairs:
                        continue
                    lrs, losses = zip(*pairs)
                    ax.plot(lrs, losses, color=colours[arch], linewidth=1, alpha=0.8,
                            label=text(arch) if k == 0 else None)
                    valley = (result.get("suggestions") or {}).get("valley")
                    if valley:
                        ax.plot([valley], [float(np.interp(np.log(valley), np.log(lrs), losses))], "o",
                                color=colours[arch], markersize=4)
            ax.set_xscale("log")
            ax.set_title(f"{text(lib)}, {phase}")
            ax.set_xlabel(_("learning rate"))
            ax.set_ylabel(_("loss (smoothed)") if col == 0 else "")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
    fig.tight_layout()
    return save(fig, out, "lr-find", _("Learning-rate finder before each phase: loss against learning rate, "
                                       "one line per model and seed; dots mark the valley suggestion."))



def draw_all(inputs: Inputs, runs: pd.DataFrame, out: Path) -> dict:
    with warnings.catch_warnings():
        # A class name in a script the font lacks (e.g. CJK) is drawn as boxes: not worth a warning.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return _draw_all(inputs, runs, out)


def _draw_all(inputs: Inputs, runs: pd.DataFrame, out: Path) -> dict:
    archs = inputs.params["train"]["archs"]
    return {
        "dataset": dataset_figure(inputs, out),
        "overview": overview_figure(inputs, runs, out),
        "lr_find": lr_find_figure(inputs, out),
        "own_losses": own_losses_figure(inputs, out),
        "curves": [f for f in (curves_figure(inputs, a, out) for a in archs) if f],
        "confusion": [f for f in (confusion_figure(inputs, a, out) for a in archs) if f],
    }
