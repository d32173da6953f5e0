"""Intervals of single quantities (scipy), and the chance-level test.

A mean over seeds of something with no images behind it (e.g. the L2 term inside a loss) gets a
Student t-interval. Comparisons between entries are dlcompare.report.comparisons's. Whether an
accuracy is above chance is asked of every validation prediction its runs made: under guessing
each is right with probability 1 / classes, independently, so the exact (Clopper-Pearson)
interval of the pooled share correct is the test. "At chance" means that interval reaches the
chance level: such a result is labelled, never read as evidence about a library.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

from dlcompare.report.i18n import _

LEVEL = 0.95


@dataclasses.dataclass
class Interval:
    estimate: float
    low: float = math.nan
    high: float = math.nan
    n: int = 0

    @property
    def known(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def excludes(self, value: float) -> bool:
        return self.known and not (self.low <= value <= self.high)

    def text(self, fmt: str = "{:.3f}", signed: bool = False) -> str:
        f = (lambda v: ("+" if v > 0 else "") + fmt.format(v)) if signed else fmt.format
        if not self.known:
            return _("{estimate} (n = {n}, no interval)").format(estimate=f(self.estimate), n=self.n)
        return f"{f(self.estimate)} [{f(self.low)}, {f(self.high)}]"


def _clean(values) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=float)
    return a[np.isfinite(a)]


def mean_interval(values, level: float = LEVEL) -> Interval:
    a = _clean(values)
    if len(a) == 0:
        return Interval(math.nan)
    if len(a) < 2:
        return Interval(float(a.mean()), n=len(a))
    sem = stats.sem(a)
    if sem == 0:
        return Interval(float(a.mean()), float(a.mean()), float(a.mean()), len(a))
    low, high = stats.t.interval(level, len(a) - 1, loc=a.mean(), scale=sem)
    return Interval(float(a.mean()), float(low), float(high), len(a))


def accuracy_interval(accuracies, images: int | None = None, level: float = LEVEL) -> Interval:
    """Share of validation predictions correct over all runs (``images`` per run), with its exact
    binomial interval; without the image count, the t-interval over seeds."""
    a = _clean(accuracies)
    if len(a) and images:
        correct = int(sum(round(x * images) for x in a))
        ci = stats.binomtest(correct, images * len(a)).proportion_ci(level, method="exact")
        return Interval(correct / (images * len(a)), float(ci.low), float(ci.high), len(a))
    return mean_interval(a, level)


def at_chance(interval: Interval, chance: float) -> bool:
    """True when the accuracy cannot be told from guessing: its interval reaches down to the
    chance level, or (no interval) its estimate is not above it."""
    if not math.isfinite(interval.estimate):
        return False
    if interval.known:
        return interval.low <= chance
    return interval.estimate <= chance
