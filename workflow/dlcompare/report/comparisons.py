"""Pairwise comparisons of entries on the same model, the way the literature on comparing learning
algorithms asks for them (Bouthillier et al. 2021, "Accounting for variance in machine learning
benchmarks"; Agarwal et al. 2021, the `rliable` stratified bootstrap).

Two sources of chance make a measured gap: the seeds (initialisation, data order, augmentation)
and the evaluation images (a finite sample of the task). One bootstrap draw resamples both: the
seeds of each entry independently (they are separate runs) and the validation images once for the
whole study (every entry is scored on the same images, so the comparison is paired). A metric of
one draw is the mean over the drawn seeds of the mean over the drawn images of the per-image
score (correct or not; cross-entropy of the true class). Steady-state seconds per epoch have no
images: only the seeds are resampled.

The interval, one rule for every metric: the estimate (difference of the means over seeds) plus
or minus Student's t times the bootstrap's standard error, with Welch-Satterthwaite degrees of
freedom over its parts (each entry's seeds, the images). Resampling n seeds gives (n - 1) / n of the
unbiased variance, so the seed part is scaled back by n / (n - 1); with 5 seeds a plain percentile
interval separated two identical entries' times in 9.5 % of 200 simulated studies, this one in 4 %.
The two-sided p-value of "no difference" is the t-test's on the same standard error; it is
Holm-adjusted over every pair of entries on every model of the study (one family per metric;
statsmodels ``multipletests``). The interval the memoir prints is at the level that Holm's
adjustment gives that pair (1 - 0.05 p / p_adjusted), so it excludes 0 exactly when the adjusted
test rejects: the verdict is "ahead" or "behind" when the printed interval lies on one side of 0,
"not separated" otherwise. With fewer than two seeds for an entry the seed-to-seed variance is
unknown and no verdict is given. An accuracy or cross-entropy comparison with an entry at chance
level (:func:`dlcompare.report.stats.at_chance`) is labelled and left out of the family.

Draws resampling one source at a time split the bootstrap variance into a share due to seeds
and a share due to images: a reader sees whether more seeds or more images would
narrow the interval. P(A > B) is rliable's probability of improvement: the chance that a random
run of A beats a random run of B (Mann-Whitney U / (n_A n_B), ties counted half; scipy).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

from dlcompare import glossary as G
from dlcompare.data import splitcache
from dlcompare.errors import UserError
from dlcompare.report import stats
from dlcompare.report.i18n import N_, _
from dlcompare.report.tables import Cell, Table

ALPHA = 1 - stats.LEVEL
DRAWS = 2000
SEED = 20200601                       # the bootstrap's own RNG: the memoir is reproducible
# Verdict codes, compared as they are; translated where shown (verdict_text)
AHEAD, BEHIND, TIED, AT_CHANCE, UNKNOWN = N_("ahead"), N_("behind"), N_("not separated"), N_("at chance"), \
    N_("no verdict")


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str
    label: str                        # marked with N_, translated where shown
    higher_is_better: bool
    per_image: bool
    fmt: str
    low: float = 0.0                  # the range a mean can take (an interval is clipped to it)
    high: float = math.inf


ACCURACY = Metric("accuracy", N_("validation accuracy"), True, True, "{:.3f}", high=1.0)
LOSS = Metric("loss", N_("validation cross-entropy"), False, True, "{:.3f}")
TIME = Metric("seconds", N_("steady-state seconds per epoch"), False, False, "{:.2f}")
METRICS = (ACCURACY, LOSS, TIME)


@dataclasses.dataclass
class Sample:
    """One entry on one model: per run (seed) its per-image scores and its steady-state time."""
    entry: str
    library: str
    arch: str
    seeds: list[int]
    correct: np.ndarray | None = None       # seeds x images, 0/1
    nll: np.ndarray | None = None           # seeds x images, -log p(true class)
    seconds: np.ndarray | None = None       # seeds, steady-state seconds per epoch (NaN unknown)

    def scores(self, metric: Metric) -> np.ndarray | None:
        return {"accuracy": self.correct, "loss": self.nll, "seconds": self.seconds}[metric.key]

    def per_seed(self, metric: Metric) -> np.ndarray:
        values = self.scores(metric)
        if values is None:
            return np.full(len(self.seeds), np.nan)
        return values.mean(axis=1) if metric.per_image else values


@dataclasses.dataclass
class Summary:
    """Per entry x model x metric: the mean over seeds, each seed's value and a 95 % interval."""
    entry: str
    arch: str
    metric: Metric
    per_seed: list[float]
    interval: stats.Interval
    seed_share: float                       # share of the bootstrap variance due to seeds


@dataclasses.dataclass
class Comparison:
    """A minus B on one model and one metric."""
    a: str
    b: str
    arch: str
    metric: Metric
    estimate: float
    interval: stats.Interval                # at the Holm-adjusted level (see module docstring)
    level: float                            # that level, e.g. 0.983
    p: float = math.nan
    p_adjusted: float = math.nan
    p_better: float = math.nan              # P(a better than b), rliable's probability of improvement
    seed_share: float = math.nan            # share of the bootstrap variance due to seeds
    verdict: str = UNKNOWN
    why: str = ""                           # for "at chance" and "no verdict", in the current language
    draws: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def separated(self) -> bool:
        return self.verdict in (AHEAD, BEHIND)


@dataclasses.dataclass
class Study:
    entries: list[str]
    summaries: list[Summary]
    comparisons: list[Comparison]
    chance: float
    images: int
    draws: int
    boot: dict = dataclasses.field(default_factory=dict, repr=False)   # (entry, arch, key): draws
    at_chance: set = dataclasses.field(default_factory=set)           # {(entry, arch)} at chance level

    def pair(self, a: str, b: str, arch: str, metric: Metric) -> Comparison | None:
        for c in self.comparisons:
            if c.arch == arch and c.metric == metric and {c.a, c.b} == {a, b}:
                return c if c.a == a else flipped(c)
        return None

    def summary(self, entry: str, arch: str, metric: Metric) -> Summary | None:
        return next((s for s in self.summaries if (s.entry, s.arch, s.metric) == (entry, arch, metric)), None)


def flipped(c: Comparison) -> Comparison:
    """B minus A: the same test seen from the other side."""
    iv = c.interval
    verdict = {AHEAD: BEHIND, BEHIND: AHEAD}.get(c.verdict, c.verdict)
    return dataclasses.replace(c, a=c.b, b=c.a, estimate=-c.estimate, verdict=verdict,
                               interval=stats.Interval(-iv.estimate, -iv.high, -iv.low, iv.n),
                               p_better=1 - c.p_better if math.isfinite(c.p_better) else c.p_better,
                               draws=None if c.draws is None else -c.draws)


# -- reading the runs ---------------------------------------------------------------------------

def entry_of(run) -> str:
    """The run's entry (a library's base recipe or a variant); the library where runs have none."""
    return getattr(run, "entry", None) or run.library


def per_image_scores(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(correct 0/1, cross-entropy) per image, as dlcompare.host.evaluate scores the split (rows
    renormalised in float64, probabilities clipped like scikit-learn's log_loss)."""
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    true = np.clip(p[np.arange(len(labels)), labels], np.finfo(np.float64).eps, 1)
    return (p.argmax(axis=1) == labels).astype(np.float64), -np.log(true)


def steady_seconds_per_epoch(info: dict, train_images: int | None) -> float:
    """Training images per epoch over the steady-state rate run.json records
    (images_per_second.train, warm-up epochs left out by the Ledger)."""
    rate = (info.get("images_per_second") or {}).get("train")
    if not train_images or not isinstance(rate, (int, float)) or not rate > 0:
        return math.nan
    return train_images / rate


def samples(inputs, root: str | Path = ".") -> tuple[list[Sample], int]:
    """Samples of every finished run, grouped by entry x model, and the validation image count."""
    root = Path(root)
    split_dir = root / G.SPLIT_DIR
    try:
        _, labels = splitcache.load_split(split_dir, "valid")
    except UserError:
        labels = None
    train = int(inputs.split_counts["train"].sum()) if inputs.split_counts is not None else None
    groups: dict[tuple[str, str], list] = {}
    for run in inputs.runs:
        if run.ok:
            groups.setdefault((entry_of(run), run.arch), []).append(run)
    out = []
    for (entry, arch), runs in groups.items():
        runs = sorted(runs, key=lambda r: r.seed)
        sample = Sample(entry, runs[0].library, arch, [r.seed for r in runs],
                        seconds=np.array([steady_seconds_per_epoch(r.info, train) for r in runs]))
        if labels is not None:
            scored = []
            for r in runs:
                path = root / G.run_dir(G.RESULTS_DIR, entry, r.arch, r.seed) / G.PROBS["valid"]
                try:
                    probs = np.load(path)
                except (OSError, ValueError):
                    scored = []
                    break
                if probs.shape[0] != len(labels):
                    scored = []
                    break
                scored.append(per_image_scores(probs, labels))
            if scored:
                sample.correct = np.stack([c for c, _ in scored])
                sample.nll = np.stack([n for _, n in scored])
        out.append(sample)
    return out, 0 if labels is None else len(labels)


# -- the bootstrap ------------------------------------------------------------------------------

def _weights(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """draws x n resampling weights (multinomial counts / n): one bootstrap resample per row."""
    return rng.multinomial(n, np.full(n, 1 / n), size=draws) / n


@dataclasses.dataclass
class _Draws:
    """One entry x model x metric: its bootstrap draws, both sources and one at a time."""
    both: np.ndarray        # seeds and images resampled
    seeds: np.ndarray       # seeds only
    images: np.ndarray      # images only
    n: int                  # seeds


def _bootstrap(sample: Sample, metric: Metric, image_w: np.ndarray | None, draws: int, rng) -> _Draws | None:
    values = sample.scores(metric)
    if values is None or not np.all(np.isfinite(values)):
        return None
    seed_w = _weights(rng, len(sample.seeds), draws)
    if not metric.per_image:
        d = seed_w @ values if np.ptp(values) > 0 else np.full(draws, values[0])
        return _Draws(d, d, np.full(draws, values.mean()), len(values))
    both = ((seed_w @ values) * image_w).sum(axis=1)
    return _Draws(both, seed_w @ values.mean(axis=1), image_w @ values.mean(axis=0), len(values))


@dataclasses.dataclass
class Spread:
    """Standard error of a mean or a difference from the bootstrap, split by source.

    Resampling n seeds gives a variance (n - 1) / n of the unbiased one, which matters with 2 to 5
    seeds: the seed part is scaled back by n / (n - 1). The degrees of freedom are
    Welch-Satterthwaite's over the parts (seeds: n - 1 each; images: images - 1)."""
    seeds: float
    images: float
    df: float

    @property
    def se(self) -> float:
        return math.sqrt(self.seeds + self.images)

    @property
    def seed_share(self) -> float:
        total = self.seeds + self.images
        return self.seeds / total if total > 0 else math.nan


def spread(parts: list[tuple[float, _Draws]], n_images: int) -> Spread:
    """The spread of sum(coefficient x mean) over independent parts that share the images."""
    joint = float(np.var(sum(c * d.both for c, d in parts)))           # both sources at once
    images = float(np.var(sum(c * d.images for c, d in parts)))        # images only (paired)
    raw = [c * c * float(np.var(d.seeds)) for c, d in parts]             # seeds only, per part
    fixed = [v * d.n / (d.n - 1) for v, (_, d) in zip(raw, parts)]
    total = joint + sum(fixed) - sum(raw)
    seeds = total * sum(fixed) / (sum(fixed) + images) if sum(fixed) + images > 0 else 0.0
    terms = [(v, d.n - 1) for v, (_, d) in zip(fixed, parts) if v > 0]
    terms += [(images, n_images - 1)] if images > 0 and n_images > 1 else []
    df = sum(v for v, _ in terms) ** 2 / sum(v * v / k for v, k in terms) if terms else math.inf
    return Spread(seeds, total - seeds, df)


def t_interval(estimate: float, sp: Spread, level: float, n: int) -> stats.Interval:
    half = float(st.t.ppf(1 - (1 - level) / 2, sp.df)) * sp.se
    return stats.Interval(float(estimate), float(estimate - half), float(estimate + half), n)


def p_value(estimate: float, sp: Spread) -> float:
    """Two-sided p-value of "no difference": the smallest 1 - level whose interval reaches 0."""
    if sp.se == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2 * st.t.sf(abs(estimate) / sp.se, sp.df))


def probability_of_improvement(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> float:
    """P(a random run of A beats a random run of B), ties counted half (rliable)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return math.nan
    u = st.mannwhitneyu(a, b).statistic if higher_is_better else st.mannwhitneyu(b, a).statistic
    return float(u / (len(a) * len(b)))


def verdict(c: Comparison) -> str:
    """"ahead" / "behind" (A better / worse than B) when the printed interval excludes 0."""
    if not c.interval.excludes(0.0):
        return TIED
    better = (c.estimate > 0) == c.metric.higher_is_better
    return AHEAD if better else BEHIND


def compare(found: list[Sample], n_images: int, n_classes: int, entries: list[str] | None = None,
            draws: int = DRAWS, seed: int = SEED) -> Study:
    """Every summary and every pairwise comparison of the study (see the module docstring)."""
    rng = np.random.default_rng(seed)
    image_w = _weights(rng, n_images, draws) if n_images else None
    order = entries or list(dict.fromkeys(s.entry for s in found))
    found = sorted(found, key=lambda s: (order.index(s.entry) if s.entry in order else len(order), s.arch))
    chance = 1 / n_classes if n_classes else math.nan
    boot = {(s.entry, s.arch, m.key): _bootstrap(s, m, image_w, draws, rng)
            for s in found for m in METRICS if not m.per_image or image_w is not None}
    boot = {k: d for k, d in boot.items() if d is not None}
    summaries, at = [], set()
    for s in found:
        for m in METRICS:
            d = boot.get((s.entry, s.arch, m.key))
            if d is None:
                continue
            values = s.per_seed(m)
            mean = float(values.mean())
            sp = spread([(1.0, d)], n_images) if d.n > 1 else None
            iv = stats.Interval(mean, n=1)
            if sp:
                iv = t_interval(mean, sp, stats.LEVEL, d.n)
                iv.low, iv.high = max(iv.low, m.low), min(iv.high, m.high)   # e.g. no accuracy above 1
            summaries.append(Summary(s.entry, s.arch, m, [float(v) for v in values], iv,
                                     sp.seed_share if sp else math.nan))
            if m is ACCURACY and n_classes and stats.at_chance(
                    stats.accuracy_interval(values, n_images or None), chance):
                at.add((s.entry, s.arch))
    comparisons, spreads = [], {}
    for x, y in itertools.combinations(found, 2):
        if x.arch != y.arch:
            continue
        for m in METRICS:
            dx, dy = boot.get((x.entry, x.arch, m.key)), boot.get((y.entry, y.arch, m.key))
            if dx is None or dy is None:
                continue
            ex, ey = x.per_seed(m), y.per_seed(m)
            estimate = float(ex.mean() - ey.mean())
            c = Comparison(x.entry, y.entry, x.arch, m, estimate,
                           stats.Interval(estimate, n=min(dx.n, dy.n)), stats.LEVEL,
                           p_better=probability_of_improvement(ex, ey, m.higher_is_better))
            chanced = [e for e in (x.entry, y.entry) if (e, x.arch) in at] if m.per_image else []
            if chanced:
                c.verdict, c.why = AT_CHANCE, _("{entries} at chance").format(entries=_(" and ").join(chanced))
            elif min(dx.n, dy.n) < 2:
                c.verdict, c.why = UNKNOWN, _("one seed: the seed-to-seed variance is unknown")
            else:
                spreads[id(c)] = sp = spread([(1.0, dx), (-1.0, dy)], n_images)
                c.seed_share, c.p = sp.seed_share, p_value(estimate, sp)
            comparisons.append(c)
    for m in METRICS:
        family = [c for c in comparisons if c.metric is m and math.isfinite(c.p)]
        if not family:
            continue
        # Holm over one test is that test (and statsmodels' call costs a gc.collect(): ~0.2 s)
        adjusted = [family[0].p] if len(family) == 1 else \
            multipletests([c.p for c in family], alpha=ALPHA, method="holm")[1]
        for c, p_adj in zip(family, adjusted):
            c.p_adjusted = float(p_adj)
            c.level = 1 - (ALPHA * c.p / p_adj if p_adj > 0 else ALPHA / len(family))
            c.interval = iv = t_interval(c.estimate, spreads[id(c)], c.level, c.interval.n)
            # a difference of two means in [low, high] lies in [low - high, high - low] (accuracy:
            # +-1); a t interval on few seeds can reach past it. Clipping never moves a bound across 0.
            iv.low, iv.high = max(iv.low, m.low - m.high), min(iv.high, m.high - m.low)
            c.verdict = verdict(c)
    return Study(order, summaries, comparisons, chance, n_images, draws, boot, at)


def study(inputs, root: str | Path = ".", draws: int = DRAWS) -> Study:
    """The study's comparisons from the report's Inputs (entries in the order params list them)."""
    found, n_images = samples(inputs, root)
    train = inputs.params["train"]
    entries = list(train.get("libraries", [])) + list(train.get("variants", []) or [])
    return compare(found, n_images, len(inputs.classes), entries, draws)


def pooled(s: Study, a: str, b: str, metric: Metric, ratio: bool = False) -> stats.Interval:
    """A minus B averaged over the models where both ran (or, ``ratio``, the mean of A over the
    mean of B, on the log scale), with its 95 % interval by the same rule (one stated claim: no
    family to correct for). No interval with fewer than two seeds for either."""
    archs = [x for x in dict.fromkeys(k[1] for k in s.boot)
             if (a, x, metric.key) in s.boot and (b, x, metric.key) in s.boot]
    if not archs:
        return stats.Interval(math.nan)
    da, db = [s.boot[(a, x, metric.key)] for x in archs], [s.boot[(b, x, metric.key)] for x in archs]
    ma = float(np.mean([np.mean(s.summary(a, x, metric).per_seed) for x in archs]))
    mb = float(np.mean([np.mean(s.summary(b, x, metric).per_seed) for x in archs]))
    n = min(d.n for d in da + db)
    k = len(archs)
    if ratio:      # log(mean A) - log(mean B): the delta method's coefficients 1 / (k mean)
        estimate, parts = math.log(ma / mb), [(1 / (k * ma), d) for d in da] + [(-1 / (k * mb), d) for d in db]
    else:
        estimate, parts = ma - mb, [(1 / k, d) for d in da] + [(-1 / k, d) for d in db]
    if n < 2:
        return stats.Interval(math.exp(estimate) if ratio else estimate, n=n)
    iv = t_interval(estimate, spread(parts, s.images), stats.LEVEL, n)
    if ratio:
        return stats.Interval(math.exp(iv.estimate), math.exp(iv.low), math.exp(iv.high), n)
    return iv


# -- the memoir's tables ------------------------------------------------------------------------

def _share(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.0f} %"


def _p(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3f}"


def verdict_text(c: Comparison) -> str:
    """The verdict cell: the word, and why when there is no reading."""
    if c.verdict == AT_CHANCE:
        return _("not evidence ({why})").format(why=c.why)
    if c.verdict == UNKNOWN:
        return _("no verdict ({why})").format(why=c.why)
    return _(c.verdict)


def interval_text(c: Comparison) -> str:
    if not c.interval.known:
        return c.metric.fmt.format(c.estimate) if c.estimate <= 0 else "+" + c.metric.fmt.format(c.estimate)
    return c.interval.text(c.metric.fmt, signed=True) + f" ({100 * c.level:.1f} %)"      # numbers only


def entries_caption(s: Study) -> str:
    return _("Every entry on every model: mean over seeds with its {level} % interval in brackets (t interval on "
             "the standard error of {draws} bootstrap draws resampling the seeds and the {images:,} validation "
             "images), each seed's accuracy, and the share of the accuracy interval's variance that comes from "
             "the seeds rather than the images. Chance level is {chance}; an entry whose share of correct "
             "predictions does not exclude it is marked at chance.").format(
        level=f"{100 * stats.LEVEL:.0f}", draws=s.draws, images=s.images, chance=f"{s.chance:.3f}")


def pairwise_caption(s: Study) -> str:
    return _("Pairwise comparisons of entries on the same model: A minus B, with a t interval on the standard "
             "error of a bootstrap that resamples each entry's seeds and the same {images:,} validation images "
             "for both ({draws} draws; times resample seeds only). The interval is at the level Holm's "
             "correction over all the pairs of the table (one family per metric) gives that pair, shown after "
             "it, so it excludes 0 exactly when the corrected test separates the two: the verdict (A ahead, "
             "behind, not separated) reads only that interval. P(A better) is the probability that a random run "
             "of A beats a random run of B (rliable). The seeds' share says where the uncertainty comes from: "
             "near 100 % more seeds would narrow the interval, near 0 % more validation images.").format(
        images=s.images, draws=s.draws) + " " + _("Accuracy intervals stop at ±1, the most two accuracies "
                                                  "can differ by (with few seeds a t interval reaches past it).")


def entries_table(s: Study) -> Table | None:
    rows = []
    for entry in s.entries:
        for arch in dict.fromkeys(x.arch for x in s.summaries):
            acc = s.summary(entry, arch, ACCURACY)
            if acc is None:
                continue
            loss, secs = s.summary(entry, arch, LOSS), s.summary(entry, arch, TIME)
            rows.append([Cell(arch), Cell(entry + (" " + _("(at chance)") if (entry, arch) in s.at_chance else "")),
                         Cell(str(acc.interval.n), acc.interval.n),
                         Cell(acc.interval.text(), acc.interval.estimate),
                         Cell(", ".join(f"{v:.3f}" for v in acc.per_seed)),
                         Cell(loss.interval.text() if loss else "–", loss.interval.estimate if loss else None,
                              missing=loss is None),
                         Cell(secs.interval.text("{:.2f}") if secs else "–",
                              secs.interval.estimate if secs else None, missing=secs is None),
                         Cell(_share(acc.seed_share), acc.seed_share if math.isfinite(acc.seed_share) else None)])
    if not rows:
        return None
    return Table("entries", entries_caption(s),
                 [_("Model"), _("Entry"), _("Seeds"), _("Accuracy [95 % CI]"), _("Per seed"),
                  _("Cross-entropy [95 % CI]"), _("Steady s / epoch [95 % CI]"), _("Seeds' share")], rows, text_cols=2)


def pairwise_table(s: Study) -> Table | None:
    rows = [[Cell(c.arch), Cell(_("{a} vs {b}").format(a=c.a, b=c.b)), Cell(_(c.metric.label)),
             Cell(interval_text(c), c.estimate), Cell(_p(c.p_better), c.p_better),
             Cell(_p(c.p_adjusted), c.p_adjusted if math.isfinite(c.p_adjusted) else None),
             Cell(_share(c.seed_share), c.seed_share if math.isfinite(c.seed_share) else None),
             Cell(verdict_text(c))]
            for c in s.comparisons]
    if not rows:
        return None
    return Table("pairwise", pairwise_caption(s),
                 [_("Model"), _("A vs B"), _("Metric"), _("A − B [CI, level]"), _("P(A better)"), _("Holm p"),
                  _("Seeds' share"), _("Verdict")], rows, text_cols=3)


def ablation_caption() -> str:
    return _("Each question the ablation profile asks, answered by the pairwise comparison it names (the same "
             "interval, Holm level and verdict as the table of pairwise comparisons).")


REFERENCE = "fastai"     # the recipe the thesis found best: a variant of another library is held to it


def variant_questions(params: dict) -> list[tuple[str, str, str]]:
    """The ablation section's questions, (text, variant, other entry): every variant the profile
    ran against its library's base recipe (does the change matter?) and, for a library other
    than fastai, against fastai (does it close the thesis's gap?)."""
    from dlcompare.host.entries import lookup

    ran = G.entries(params["train"])
    out = []
    for name in params["train"].get("variants") or []:
        spec = lookup(params, name)
        what = spec.description or _("{variant}, a variant of {library}").format(variant=name, library=spec.library)
        if spec.library in ran:
            out.append((_("{variant}: does it change {library}'s result?").format(variant=what, library=spec.library),
                        name, spec.library))
        if spec.library != REFERENCE and REFERENCE in ran:
            out.append((_("{variant}: does it do as well as {reference}?").format(variant=what, reference=REFERENCE),
                        name, REFERENCE))
    return out


def ablation_table(s: Study, questions: list[tuple[str, str, str]],
                   metrics: tuple[Metric, ...] = (ACCURACY, TIME)) -> Table | None:
    """One row per (question, model, metric) for questions given as (text, entry A, entry B);
    questions whose entries did not both run on a model are left out."""
    rows = []
    for text, a, b in questions:
        for arch in dict.fromkeys(c.arch for c in s.comparisons):
            for m in metrics:
                c = s.pair(a, b, arch, m)
                if c is not None:
                    rows.append([Cell(text), Cell(arch), Cell(_("{a} vs {b}").format(a=c.a, b=c.b)), Cell(_(m.label)),
                                 Cell(interval_text(c), c.estimate), Cell(_p(c.p_better), c.p_better),
                                 Cell(verdict_text(c))])
    if not rows:
        return None
    return Table("ablations", ablation_caption(),
                 [_("Question"), _("Model"), _("A vs B"), _("Metric"), _("A − B [CI, level]"), _("P(A better)"),
                  _("Verdict")],
                 rows, text_cols=4)
