"""The memoir's statistics (dlcompare.report.comparisons) on synthetic probabilities where the
truth is known: a real gap is separated, no gap is "not separated" at the stated rate, the
interval and the verdict agree, and the discussion's words follow the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from dlcompare.report import comparisons as C, discussion

CLASSES = 10


def runs(rng, skill: float, seeds: int, difficulty: np.ndarray, seed_sd: float = 0.1,
         entry: str = "a", seconds: float = 1.0) -> C.Sample:
    """``seeds`` runs of one entry on the same images: per run a skill drawn around ``skill``
    (seed-to-seed variation), per image a difficulty shared by every run (the evaluation sample)."""
    n = len(difficulty)
    labels = np.arange(n) % CLASSES
    correct, nll = [], []
    for _ in range(seeds):
        logits = rng.normal(0, 1, (n, CLASSES))
        logits[np.arange(n), labels] += skill + rng.normal(0, seed_sd) - difficulty
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        c, l = C.per_image_scores(probs, labels)
        correct.append(c)
        nll.append(l)
    return C.Sample(entry, entry, "resnet18", list(range(seeds)), np.stack(correct), np.stack(nll),
                    seconds * (1 + rng.normal(0, 0.03, seeds)))


def test_per_image_scores_average_to_the_metrics_json_values():
    from dlcompare.host.evaluate import split_metrics
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(CLASSES), 300).astype(np.float32)
    labels = rng.integers(0, CLASSES, 300)
    correct, nll = C.per_image_scores(probs, labels)
    m = split_metrics(probs, labels, [str(i) for i in range(CLASSES)])
    assert correct.mean() == pytest.approx(m["accuracy"]) and nll.mean() == pytest.approx(m["loss"])


def test_a_real_ten_point_gap_over_five_seeds_is_separated():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 1, 500)
    a, b = runs(rng, 2.2, 5, difficulty, entry="a"), runs(rng, 1.8, 5, difficulty, entry="b", seconds=1.5)
    study = C.compare([a, b], 500, CLASSES)
    gap = study.pair("a", "b", "resnet18", C.ACCURACY)
    assert 0.06 < gap.estimate < 0.14       # the truth: 0.677 - 0.579 (skills 2.2, 1.8 on 20,000 images)
    assert gap.verdict == C.AHEAD and gap.interval.low > 0 and gap.p_better == 1.0
    assert study.pair("b", "a", "resnet18", C.ACCURACY).verdict == C.BEHIND
    assert study.pair("a", "b", "resnet18", C.LOSS).verdict == C.AHEAD     # lower cross-entropy
    assert study.pair("a", "b", "resnet18", C.TIME).verdict == C.AHEAD     # faster
    # one pair per metric: Holm changes nothing, the interval is the plain 95 % one
    assert gap.level == pytest.approx(0.95)
    assert 0 <= gap.seed_share <= 1
    summary = study.summary("a", "resnet18", C.ACCURACY)
    assert summary.interval.low < summary.interval.estimate < summary.interval.high
    assert len(summary.per_seed) == 5


def test_no_difference_is_not_separated_in_95_percent_of_200_studies():
    """Two entries from the same distribution; 200 studies with a fixed RNG, every metric (time
    too). 300 bootstrap draws a study keep the test fast: the interval is built from the bootstrap's
    variance (not its tails), which 300 draws estimate to within about 8 %."""
    rng = np.random.default_rng(2)
    separated = {m.key: 0 for m in C.METRICS}
    for _ in range(200):
        difficulty = rng.normal(0, 1, 300)
        a, b = runs(rng, 1.8, 5, difficulty, entry="a"), runs(rng, 1.8, 5, difficulty, entry="b")
        study = C.compare([a, b], 300, CLASSES, draws=300, seed=int(rng.integers(1 << 30)))
        for m in C.METRICS:
            separated[m.key] += study.pair("a", "b", "resnet18", m).separated
    assert max(separated.values()) <= 10, f"of 200 studies, these separated two identical entries: {separated}"


def test_holm_widens_the_interval_and_the_verdict_reads_it():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1, 400)
    found = [runs(rng, skill, 4, difficulty, entry=name)
             for name, skill in (("a", 2.4), ("b", 1.7), ("c", 1.68), ("d", 1.66))]
    study = C.compare(found, 400, CLASSES)
    acc = [c for c in study.comparisons if c.metric is C.ACCURACY]
    assert len(acc) == 6
    from statsmodels.stats.multitest import multipletests
    assert [c.p_adjusted for c in acc] == pytest.approx(list(multipletests([c.p for c in acc], method="holm")[1]))
    for c in acc:
        assert c.level >= 0.95 - 1e-12
        assert c.separated == (c.p_adjusted < 0.05) == c.interval.excludes(0)
    assert any(c.level > 0.95 for c in acc)
    assert study.pair("a", "b", "resnet18", C.ACCURACY).verdict == C.AHEAD
    assert study.pair("c", "d", "resnet18", C.ACCURACY).verdict == C.TIED


def test_probability_of_improvement_is_rliables():
    a, b = np.array([0.8, 0.7, 0.6]), np.array([0.65, 0.6, 0.5])
    # pairs (i, j) with a_i > b_j: 3 + 2 + 1 (0.6 vs 0.6 a tie, half) ... counted directly
    direct = np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])
    assert C.probability_of_improvement(a, b, True) == pytest.approx(direct)
    assert C.probability_of_improvement(a, b, False) == pytest.approx(1 - direct)


def test_time_resamples_seeds_only_and_chance_is_labelled():
    rng = np.random.default_rng(4)
    difficulty = rng.normal(0, 1, 300) + 6          # every image too hard: both at chance
    a, b = runs(rng, 0.0, 3, difficulty, entry="a"), runs(rng, 0.0, 3, difficulty, entry="b", seconds=2.0)
    study = C.compare([a, b], 300, CLASSES)
    acc = study.pair("a", "b", "resnet18", C.ACCURACY)
    assert acc.verdict == C.AT_CHANCE and "a and b at chance" in acc.why and not math.isfinite(acc.p)
    assert [r[1].text for r in C.entries_table(study).rows] == ["a (at chance)", "b (at chance)"]
    time = study.pair("a", "b", "resnet18", C.TIME)
    assert time.verdict == C.AHEAD and time.seed_share == 1.0     # only seeds vary
    one = C.compare([runs(rng, 2, 1, difficulty[:50] - 6, entry="a"),
                     runs(rng, 1, 1, difficulty[:50] - 6, entry="b")], 50, CLASSES)
    assert one.pair("a", "b", "resnet18", C.ACCURACY).verdict == C.UNKNOWN


def test_discussion_wording_follows_the_verdicts():
    rng = np.random.default_rng(5)
    difficulty = rng.normal(0, 1, 400)
    apart = C.compare([runs(rng, 2.4, 5, difficulty, entry="fastai"),
                       runs(rng, 1.6, 5, difficulty, entry="keras")], 400, CLASSES)
    text = " ".join(discussion.comparison_sentences("resnet18", apart))
    assert "fastai is ahead of keras in validation accuracy (fastai minus keras +0." in text
    assert "Not separated in validation accuracy" not in text
    same = C.compare([runs(rng, 1.8, 5, difficulty, entry="fastai"),
                      runs(rng, 1.8, 5, difficulty, entry="keras")], 400, CLASSES)
    c = same.pair("fastai", "keras", "resnet18", C.ACCURACY)
    assert c.verdict == C.TIED
    text = " ".join(discussion.comparison_sentences("resnet18", same))
    assert "Not separated in validation accuracy" in text and "is ahead of keras in validation accuracy" not in text
    assert f"fastai and keras ({c.interval.text(C.ACCURACY.fmt, signed=True).split(' ')[0]}, " in text
    assert c.interval.text(C.ACCURACY.fmt, signed=True).split(" ", 1)[1] in text


def test_tables_show_every_pair_and_entry():
    rng = np.random.default_rng(6)
    difficulty = rng.normal(0, 1, 200)
    study = C.compare([runs(rng, 2.0, 3, difficulty, entry=e) for e in ("torch", "fastai", "keras")],
                      200, CLASSES)
    pairs = C.pairwise_table(study)
    assert len(pairs.rows) == 3 * 3 and pairs.id == "pairwise"
    assert {r[7].text for r in pairs.rows} <= {C.AHEAD, C.BEHIND, C.TIED}
    entries = C.entries_table(study)
    assert [r[1].text for r in entries.rows] == ["torch", "fastai", "keras"]
    assert entries.rows[0][2].text == "3" and entries.rows[0][4].text.count(",") == 2


def test_ablation_table_answers_each_question_with_its_pair():
    rng = np.random.default_rng(7)
    difficulty = rng.normal(0, 1, 300)
    study = C.compare([runs(rng, 2.3, 3, difficulty, entry="fastai"), runs(rng, 1.5, 3, difficulty, entry="keras"),
                       runs(rng, 2.3, 3, difficulty, entry="keras_onecycle")], 300, CLASSES)
    table = C.ablation_table(study, [("Does one-cycle close the gap?", "keras_onecycle", "fastai"),
                                     ("Not run", "keras", "nobody")])
    assert [r[0].text for r in table.rows] == ["Does one-cycle close the gap?"] * 2
    acc = study.pair("keras_onecycle", "fastai", "resnet18", C.ACCURACY)
    assert table.rows[0][2].text == "keras_onecycle vs fastai" and table.rows[0][6].text == C.verdict_text(acc)
    assert table.rows[0][4].text == C.interval_text(acc)


def test_an_accuracy_difference_interval_stays_within_plus_minus_one():
    """Two seeds of a near-perfect and a near-chance entry, one seed far off: the t interval (1
    degree of freedom) would reach past +1; the difference of two accuracies cannot."""
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1, 300)
    a = runs(rng, 8.0, 2, difficulty, entry="a", seed_sd=3.0)
    b = runs(rng, 0.5, 2, difficulty, entry="b", seed_sd=1.5)
    study = C.compare([a, b], 300, CLASSES)
    gap = study.pair("a", "b", "resnet18", C.ACCURACY)
    unclipped = C.t_interval(gap.estimate, C.spread([(1.0, study.boot[("a", "resnet18", "accuracy")]),
                                                     (-1.0, study.boot[("b", "resnet18", "accuracy")])], 300),
                             gap.level, 2)
    assert unclipped.high > 1.0                       # the case this test is about
    assert -1.0 <= gap.interval.low and gap.interval.high == 1.0
    assert study.pair("b", "a", "resnet18", C.ACCURACY).interval.low == -1.0
