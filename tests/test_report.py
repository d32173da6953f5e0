"""The memoir (`dlcompare report`): rendering from realistic artifacts, partial results, hostile
class names, one library only. Inputs are made the way the pipeline makes them: PNGs cleaned and
split by the real stages, run artifacts written through the run contract's helpers and checked
with check_artifacts, metrics computed by dlcompare.host.evaluate. LaTeX and Chromium checks are in
test_report_render.py (slow)."""

from __future__ import annotations

import csv
import itertools
import math
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from html.parser import HTMLParser
from PIL import Image

from dlcompare.data import cleaning, splitting
from dlcompare.host import contract, evaluate, provenance
from dlcompare.host.entries import resolved_params
from dlcompare.host.training import add_core_fields
from dlcompare import glossary as G, params as params_mod
from dlcompare.errors import UserError
from dlcompare.testing import synthetic_images

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ["nævus_&_co", "50%_{x}#$~^\\", "50%$ure#1 {x}", "tilde~hat^\\back", "<b onmouseover=alert(1)>x",
           "α-β 日本"]
PLAIN = ["alpha", "beta", "gamma"]
# A library's skill on the synthetic task (how peaked its probabilities are) and speed.
SKILL = {"torch": 2.2, "fastai": 2.6, "keras": 1.4, "mylib": 1.8}
SPEED = {"torch": 0.8, "fastai": 0.6, "keras": 1.5, "mylib": 1.0}


def thesis_lines() -> list[str]:
    """The thesis text (Spanish) as extracted from its PDF, kept in reports/reference/thesis.txt
    (or $DLCOMPARE_THESIS): the course and results tables are checked against it."""
    path = Path(os.environ.get("DLCOMPARE_THESIS", ROOT / "reports/reference/thesis.txt"))
    return path.read_text(encoding="utf-8").splitlines()


def make_raw(root: Path, classes: list[str], per_class: int = 14, test: int = 3) -> Path:
    """A Train/Test image folder like the ISIC release, with one cross-class duplicate, one
    unreadable file and a class too small to keep (dropped by cleaning)."""
    raw = root / G.RAW_DIR / "fixture"
    names = classes + ["tiny"]
    for k, name in enumerate(names):
        n = 3 if name == "tiny" else per_class
        images, _ = synthetic_images(len(names) * (n + test), len(names), 16, seed=k)
        for i, array in enumerate(images[k::len(names)]):       # the images of label k
            folder = raw / ("Train" if i < n else "Test") / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(folder / f"img{i:03d}.png")
    first, second = raw / "Train" / classes[0], raw / "Train" / classes[1]
    shutil.copy(first / "img000.png", second / "dup_of_first.png")
    (first / "broken.png").write_bytes(b"not an image at all")
    return raw


def fake_lr_find(rng, seed: int) -> dict:
    """extras.lr_find as the fastai plugin writes it (dlcompare_fastai.recipe.lr_find), per phase."""
    out = {}
    for phase, centre in zip(G.PHASES, (3e-3, 3e-5)):
        lrs = np.geomspace(1e-7, 10, 40)
        loss = 2.0 - 0.8 * np.exp(-np.log(lrs / centre) ** 2 / 8) + 0.3 * np.maximum(0, np.log(lrs / (30 * centre))) ** 2
        curve = {"lr": lrs.tolist(), "loss": [None if i == 39 else float(v) for i, v in enumerate(loss)]}
        valley = centre * (1 + 0.3 * seed) * float(rng.uniform(0.8, 1.2))
        out[phase] = {"suggestions": {"valley": valley, "slide": None if seed == 1 and phase == "phase2" else valley * 2,
                                      "minimum": valley * 3, "steep": valley / 10},
                      "curve": curve, "iterations": 40}
    return out


def fake_run(split_dir: Path, results: Path, library: str, arch: str, seed: int, classes: list[str],
             epochs=(2, 3), variant: str | None = None) -> Path:
    """Artifacts as a trainer writes them (through contract.Run's helpers), then metrics.json.

    A TEST FIXTURE, not a result: the probabilities are drawn at random around the true labels
    with a per-library "skill"; the history's last validation loss equals the cross-entropy of
    those probabilities (plus, for keras, an L2 penalty of about 5, as Keras's own loss includes
    one, kept in run.json extras.keras_losses as the Keras plugin does); fastai runs carry lr_find
    results in the fastai plugin's format."""
    out = Path(G.run_dir(str(results), variant or library, arch, seed))
    out.mkdir(parents=True)
    run = contract.Run(library=library, arch=arch, seed=seed, device="cpu", pretrained="none",
                       image_size=16, batch_size=8, threads=1, classes=classes, split_dir=split_dir,
                       out_dir=out, checkpoint_dir=out, params={}, variant=variant)
    rng = np.random.default_rng(1000 * seed + len(run.entry) + len(arch))
    skill = SKILL.get(library, 1.5) + rng.normal(0, 0.15)
    final_loss = 0.0
    for split in G.EVAL_SPLITS:
        _, labels = run.load(split)
        logits = rng.normal(0, 1, (len(labels), len(classes)))
        logits[np.arange(len(labels)), labels] += skill
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        run.save_probabilities(split, probs)
        if split == "valid":
            final_loss = evaluate.split_metrics(probs.astype(np.float32), labels, classes)["loss"]
    rows, own, epoch, total = [], [], 0, sum(epochs)
    for phase, n in zip(G.PHASES, epochs):
        for within in range(1, n + 1):     # the contract numbers epochs from 1 within each phase
            epoch += 1
            acc = min(0.99, 0.3 + 0.6 * (1 - np.exp(-skill * epoch / 3)) + rng.normal(0, 0.02))
            penalty = 5.0 + 0.3 * (total - epoch) if library == "keras" else 0.0
            valid_loss = final_loss + 2.0 / (1 + epoch) - 2.0 / (1 + total)   # plain cross-entropy
            rows.append({"epoch": within, "phase": phase, "train_loss": 2.0 / (1 + epoch) + 0.1 + penalty,
                         "valid_loss": valid_loss, "valid_accuracy": acc,
                         "seconds": SPEED.get(library, 1) * (1.5 if phase == "phase2" else 1) + rng.uniform(0, .1)})
            # as dlcompare_keras keeps Keras's own view of the loss (cross-entropy + its L2 term)
            own.append({"phase": phase, "epoch": within, "keras_train_loss": rows[-1]["train_loss"],
                        "keras_valid_loss": valid_loss + penalty, "l2_keras": penalty,
                        "l2_all_kernels": 1.4 * penalty})
    run.save_history(rows)
    phase_seconds = {p: sum(r["seconds"] for r in rows if r["phase"] == p) for p in G.PHASES}
    extras = {"note": "a&b_%c", "most_confused": [[classes[0], classes[1], 2]], "batch_norm_trainable": True}
    if library == "fastai":
        extras["lr_find"] = fake_lr_find(rng, seed)
    if library == "keras":
        extras["keras_losses"] = own
    run.save_info({"library_version": {"torch": "2.14.1", "fastai": "2.8.12", "keras": "3.15.1"}.get(library, "0.1"),
                   "versions": {"python": "3.11.2", "device_name": "x86_64", "numpy": "2.4.6"},
                   "param_count": 11_000_000 + len(arch), "phase_seconds": phase_seconds,
                   "images_per_second": {"train": 500 / SPEED.get(library, 1), "inference": 2000.0},
                   "peak_memory_mb": 900.0 + 10 * seed, "extras": extras,
                   "warmup_seconds": 10.0 + seed})
    contract.check_artifacts(out, split_dir, len(classes))
    add_core_fields(out, {"entry": run.entry, "variant": variant})
    evaluate.write_metrics(out, split_dir)
    return out


def make_project(root: Path, classes: list[str], libraries=("torch", "fastai", "keras"),
                 archs=("resnet18",), seeds=(0, 1), skip=(), courses_dir: Path | None = None,
                 variants=(), languages=("en",)) -> dict:
    """A project directory with cleaned + split data, runs for every combination except ``skip``,
    and the memoir's templates and course data; returns the validated params. One edition by
    default (the Spanish one is checked on the shared ``full`` memoir and in the slow tests)."""
    for name in ("reports/templates", "reports/i18n", "reports/courses", "reports/reference"):
        source = courses_dir if name == "reports/courses" and courses_dir else ROOT / name
        shutil.copytree(source, root / name)
    raw = make_raw(root, classes)
    log = lambda msg: None  # noqa: E731
    cleaning.run_clean(raw, root / G.CLEAN_DIR, root / G.RESULTS_DIR / G.CLEANING_REPORT, 8, log)
    data = {"dataset": "folder", "path": str(raw), "image_size": 16, "test_fraction": 0.05,
            "valid_fraction": 0.25, "split_seed": 42, "stratify": False}
    splitting.run_split(root / G.CLEAN_DIR, root / G.SPLIT_DIR, root / G.RESULTS_DIR / "split.json",
                        data, log, workers=1)
    split_classes = json.loads((root / G.SPLIT_DIR / G.CLASSES).read_text(encoding="utf-8"))
    base = params_mod.read_yaml(ROOT / "params.yaml")
    params = {"data": {**base["data"], **data}, "train": {**base["train"], "libraries": list(libraries),
                                                          "variants": list(variants),
                                                          "archs": list(archs), "seeds": list(seeds)},
              "report": {"title": "Test memoir & friends", "target_accuracy": 0.7, "languages": list(languages)},
              "variants": {v: base["variants"][v] for v in variants}}
    for lib in libraries:
        params[lib] = base.get(lib, {"custom_option": 1})
    params = params_mod.validate(params)
    plugin = {v: base["variants"][v]["library"] for v in variants}
    for lib, arch, seed in itertools.product(list(libraries) + list(variants), archs, seeds):
        if (lib, arch, seed) not in skip:
            out = fake_run(root / G.SPLIT_DIR, root / G.RESULTS_DIR, plugin.get(lib, lib), arch, seed,
                           split_classes, variant=lib if lib in plugin else None)
            # as `dlcompare train` records it: the split and params this run was trained on
            section = resolved_params(params, lib) if plugin.get(lib, lib) in G.LIBRARIES else params[lib]
            add_core_fields(out, {provenance.KEY: provenance.trained_on(params, section, root / G.SPLIT_DIR)})
    return params


def build(tmp_path, monkeypatch, classes=PLAIN, **kwargs):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("dlcompare.report.render.tex_available", lambda: False)  # LaTeX: slow tests
    params = make_project(tmp_path, classes, **kwargs)
    from dlcompare.report import build_report
    messages = []
    build_report(params, messages.append)
    return tmp_path / G.REPORT_DIR, params, messages


def html_text(build_dir: Path) -> str:
    return (build_dir / "memoir.html").read_text(encoding="utf-8")


class _Cells(HTMLParser):
    """Rows of one table of the memoir's HTML, each cell as (text, attributes)."""

    def __init__(self, table_id: str):
        super().__init__()
        self.id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == self.id
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ["", attrs]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append((self.cell[0].strip(), self.cell[1]))
            self.cell = None


def html_table(build_dir: Path, table_id: str) -> list[list[tuple[str, dict]]]:
    parser = _Cells(table_id)
    parser.feed(html_text(build_dir))
    assert parser.rows, f"no table {table_id} in memoir.html"
    return parser.rows


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One memoir from every run of three libraries x one model x two seeds (shared: figures
    take most of a build's time)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        root = tmp_path_factory.mktemp("full")
        yield root, *build(root, monkeypatch, languages=("en", "es"))



def test_full_report_numbers_come_from_the_artifacts(full):
    tmp_path, out, params, messages = full
    assert (out / "memoir.tex").is_file() and (out / "memoir.html").is_file()
    assert any("memoir.pdf not built" in m for m in messages)
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 6 and set(summary["status"]) == {"ok"}
    # every accuracy in summary.csv is the one in that run's metrics.json
    for row in summary.itertuples():
        metrics = json.loads((tmp_path / G.run_dir("results", row.entry, row.arch, row.seed)
                              / G.METRICS).read_text())
        assert row.valid_accuracy == pytest.approx(metrics["valid"]["accuracy"])
        assert row.test_loss == pytest.approx(metrics["test"]["loss"])
    by_model = pd.read_csv(out / "summary_by_model.csv").set_index("library")
    fastai = summary[summary["library"] == "fastai"]["valid_accuracy"]
    assert by_model.loc["fastai", "valid_accuracy_mean"] == pytest.approx(fastai.mean())
    assert by_model.loc["fastai", "valid_accuracy_std"] == pytest.approx(fastai.std(ddof=1))
    html = html_text(out)
    assert f"{fastai.mean():.3f} ± {fastai.std(ddof=1):.3f}" in html
    for fig in ("dataset", "overview", "curves-resnet18", "confusion-resnet18"):
        assert (out / "figures" / f"{fig}.png").is_file() and (out / "figures" / f"{fig}.pdf").is_file()
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert r"\documentclass[a4paper,11pt,oneside]{memoir}" in tex
    for ref in re.findall(r"\\includegraphics\[[^]]*\]\{([^}]*)\}", tex):
        assert (out / ref).is_file(), ref
    assert "Test memoir \\& friends" in tex


def test_discussion_follows_the_numbers(full):
    _, out, params, _ = full
    summary = pd.read_csv(out / "summary.csv")
    means = summary.groupby("library")["valid_accuracy"].mean().sort_values(ascending=False)
    lead, second = means.index[:2]
    html = html_text(out)
    discussion = html[html.index('id="discussion"'):]
    assert f"{lead} has the highest mean validation accuracy, {means.iloc[0]:.3f}" in discussion
    assert f"{means.iloc[0] - means.iloc[1]:.3f} above {second}" in discussion
    # the verdict on the two leaders is the pairwise table's (paired bootstrap, Holm), in words
    rows = {(r[1][0], r[2][0]): r for r in html_table(out, "tab-pairwise")[1:]}
    row = rows.get((f"{lead} vs {second}", "validation accuracy")) or rows[(f"{second} vs {lead}", "validation accuracy")]
    if row[7][0] == "not separated":
        assert "Not separated in validation accuracy" in discussion
        assert f"{row[1][0].replace(' vs ', ' and ')} ({row[3][0].split(' ')[0]}, " in discussion
    else:
        assert (f"{lead} is ahead of {second} in validation accuracy ({lead} minus {second} "
                f"+{means.iloc[0] - means.iloc[1]:.3f}, ") in discussion
    assert "seed-to-seed spread" not in discussion and "of the bootstrap variance of the accuracy differences" in discussion
    per_epoch = (summary["train_seconds"] / summary["epochs"]).groupby(summary["library"]).mean()
    assert f"Per epoch, {per_epoch.idxmin()} trains fastest" in discussion
    # the thesis's published gap, computed from the reference CSV
    ref = pd.read_csv(ROOT / "reports/reference/thesis_table_4_2.csv", comment="#")
    acc = ref.pivot(index="arch", columns="library", values="valid_accuracy")
    assert f"by {(acc['fastai'] - acc['keras']).mean():.3f} on average over its 6 models" in discussion


def test_missing_and_failed_runs_are_shown_not_fatal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    skip = {("keras", "resnet18", 1), ("keras", "resnet18", 0), ("fastai", "resnet18", 1)}
    out, params, messages = build(tmp_path, monkeypatch, skip=skip)
    summary = pd.read_csv(out / "summary.csv").set_index(["library", "seed"])
    assert summary.loc[("keras", 0), "status"] == "missing"
    assert summary.loc[("fastai", 0), "status"] == "ok"
    html = html_text(out)
    assert "3 of the 6 expected runs finished" in html
    rows = {(r[0][0], r[1][0]): r for r in html_table(out, "tab-results-valid")[1:]}
    keras = rows[("resnet18", "keras")]
    assert keras[2][0] == "0/2" and "data-missing" in keras[2][1]
    assert [c[0] for c in keras[3:]] == ["missing"] * 4
    assert rows[("resnet18", "fastai")][2][0] == "1/2"
    # a run whose metrics.json is damaged counts as failed, with the reason
    (tmp_path / G.run_dir("results", "torch", "resnet18", 1) / G.METRICS).write_text("{")
    from dlcompare.report import build_report
    build_report(params, messages.append)
    summary = pd.read_csv(out / "summary.csv").set_index(["library", "seed"])
    assert summary.loc[("torch", 1), "status"] == "failed"
    assert "metrics.json missing or unreadable" in html_text(out)


def test_no_run_at_all_still_renders_says_so_on_page_one_and_fails(tmp_path, monkeypatch):
    """A pipeline whose runs all failed wrote a memoir as if normal (exit 0)."""
    skip = set(itertools.product(("torch", "fastai", "keras"), ("resnet18",), (0, 1)))
    with pytest.raises(UserError, match=r"no expected run finished on the current split and params "
                                        r"\(0 of 6\); the memoir in reports/build says so on page one"):
        build(tmp_path, monkeypatch, skip=skip)
    out = tmp_path / G.REPORT_DIR
    html = html_text(out)
    assert "No run finished, so there are no results to discuss yet." in html
    header = html.split("</header>")[0]
    assert "No expected run finished on the current split and params (0 of 6): this memoir has no " \
           "results." in header
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert tex.index("No expected run finished") < tex.index("\\tableofcontents")
    assert not (out / "figures" / "overview.png").exists()


def test_runs_of_another_split_or_params_are_left_out_as_stale(tmp_path, monkeypatch):
    """After switching datasets the memoir said "digits, 10 classes" over the folder's classes."""
    out, params, messages = build(tmp_path, monkeypatch, libraries=("torch", "fastai"), seeds=(0, 1))
    assert not [m for m in messages if "stale" in m]
    # the split changes (another dataset: other classes): every run is now stale
    fastai0 = tmp_path / G.run_dir("results", "fastai", "resnet18", 0) / G.RUN_INFO
    info = json.loads(fastai0.read_text())
    info["trained_on"]["params_fingerprint"] = "0" * 64          # trained with other params
    fastai0.write_text(json.dumps(info))
    torch1 = tmp_path / G.run_dir("results", "torch", "resnet18", 1) / G.RUN_INFO
    info = json.loads(torch1.read_text())
    info["trained_on"] |= {"manifest_sha256": "1" * 64, "classes": [str(d) for d in range(10)]}
    torch1.write_text(json.dumps(info))
    from dlcompare.report import build_report, collect
    messages.clear()
    build_report(params, messages.append)
    summary = pd.read_csv(out / "summary.csv").set_index(["library", "seed"])
    assert summary.loc[("fastai", 0), "status"] == summary.loc[("torch", 1), "status"] == "stale"
    assert summary.loc[("torch", 0), "status"] == "ok"
    warning = [m for m in messages if m.startswith("warning:")]
    assert warning == ["warning: 2 stale run(s) left out of the memoir (trained on another split with classes "
                       "0, 1, 2, 3, 4, 5, 6, 7, 8, 9): torch/resnet18/seed1, fastai/resnet18/seed0; train them again"]
    header = html_text(out).split("</header>")[0]
    assert "2 runs left out as stale" in header and "torch/resnet18/seed1" in header
    assert "trained with other parameters" in html_text(out)      # the status table gives each reason
    rows = {(r[0][0], r[1][0]): r for r in html_table(out, "tab-results-valid")[1:]}
    assert rows[("resnet18", "torch")][2][0] == "1/2"             # means over the matching runs only
    # a param that shapes the run (data.background) also makes the runs stale
    inputs = collect.collect(params_mod.validate({**params, "data": {**params["data"], "background": "black"}}))
    assert all(r.status == "stale" for r in inputs.runs)
    # a matrix key does not: more seeds name more runs, they do not change the others
    inputs = collect.collect(params_mod.validate({**params, "train": {**params["train"], "seeds": [0, 1, 2]}}))
    assert [r.status for r in inputs.runs if r.library == "torch"] == ["ok", "stale", "missing"]


def test_hostile_class_names_are_escaped(tmp_path, monkeypatch):
    out, _, _ = build(tmp_path, monkeypatch, classes=HOSTILE)
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert r"n\ae" not in tex and "nævus\\_\\&\\_co" in tex
    assert r"50\%\$ure\#1 \{x\}" in tex
    assert r"tilde\textasciitilde{}hat\textasciicircum{}\textbackslash{}back" in tex
    assert r"50\%\_\{x\}\#\$\textasciitilde{}\textasciicircum{}\textbackslash{}" in tex
    # the Greek letters the memoir uses itself (β1, ε) print; other scripts show their code point
    assert r"\ensuremath{\alpha}-\ensuremath{\beta} \texttt{[U+65E5]}" in tex
    html = html_text(out)
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;x" in html
    assert "α-β 日本" in html
    assert "50%_{x}#$~^\\" in html
    # the hostile names reach the memoir's class-level tables, not only the class list
    assert any(r[0][0] == "50%_{x}#$~^\\" for r in html_table(out, "tab-cleaning")[1:])


def test_one_library_only_and_third_party_library(tmp_path, monkeypatch):
    out, _, _ = build(tmp_path, monkeypatch, libraries=("mylib",), seeds=(0,))
    html = html_text(out)
    assert "Only mylib has finished runs, so there is no comparison between libraries" in html
    assert "custom_option" in html            # its own params section in the configuration table
    assert "seed-to-seed spread" not in html


def test_the_cost_table_shows_the_warm_up_apart(full):
    """Warm-up (first epoch of each phase: tracing, autotuning) is its own column, from run.json."""
    _, out, _, _ = full
    rows = html_table(out, "tab-results-cost")
    header = [c[0] for c in rows[0]]
    assert header[5:8] == ["s/epoch", "Warm-up", "Train img/s"]
    torch = next(r for r in rows[1:] if r[1][0] == "torch")
    assert torch[6][0] == "10.5 s ± 0.7 s"         # seeds 0 and 1: 10 s and 11 s


def test_a_variant_is_a_column_of_its_own_beside_its_library(tmp_path, monkeypatch):
    """keras_onecycle runs beside keras: its own rows in summary.csv, its own column in the
    configuration table (what it asks, its resolved one-cycle settings), its own runs linked."""
    out, params, _ = build(tmp_path, monkeypatch, libraries=("fastai", "keras"), seeds=(0,),
                           variants=("keras_onecycle",))
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["entry"]) == ["fastai", "keras", "keras_onecycle"]
    assert list(summary["library"]) == ["fastai", "keras", "keras"]
    config = html_table(out, "tab-config")
    assert [c[0] for c in config[0]][1:] == ["fastai", "keras", "keras_onecycle"]
    recipe = next(r for r in config if r[0][0] == "Recipe")
    assert recipe[1][0] == recipe[2][0] == "base recipe"
    assert recipe[3][0].startswith("variant of keras: Keras with one-cycle")
    assert "keras_onecycle/resnet18/seed0" in html_text(out)


def test_latex_escape_covers_every_special_character():
    from dlcompare.report.render import Latex, latex_escape
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\k") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")
    assert latex_escape("0.9 ± 0.1 → ≥ ✓ 44 €") == (
        r"0.9 \ensuremath{\pm} 0.1 \ensuremath{\rightarrow} \ensuremath{\geq} \ensuremath{\checkmark} 44 \texteuro{}")
    assert latex_escape(Latex(r"\emph{x}")) == r"\emph{x}"
    assert latex_escape("ñ é ü ß æ ø") == "ñ é ü ß æ ø"
    assert latex_escape("🙂") == r"\texttt{[U+1F642]}"


def test_missing_templates_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from dlcompare.report import build_report
    params = params_mod.load([str(ROOT / "params.yaml")])
    with pytest.raises(UserError, match="memoir.tex.j2 not found"):
        build_report(params, print)


def test_thesis_reference_table_matches_the_thesis_text():
    """reports/reference/thesis_table_4_2.csv against the seed's Table 4.2 (a) and (b)."""
    lines = thesis_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("modelo\tpérdida valid."))
    names = {"VGG16": "vgg16", "VGG19": "vgg19", "ResNet50": "resnet50", "ResNet101": "resnet101",
             "DenseNet121": "densenet121", "DenseNet169": "densenet169"}
    rows = [line.split("\t") for line in lines[start:start + 40] if line.split("\t")[0] in names]
    quality, times = rows[:6], rows[6:12]
    ref = pd.read_csv(ROOT / "reports/reference/thesis_table_4_2.csv", comment="#").set_index(["arch", "library"])
    assert len(ref) == 12
    for q, t in zip(quality, times):
        arch = names[q[0]]
        assert ref.loc[(arch, "keras"), "valid_loss"] == float(q[1])
        assert ref.loc[(arch, "fastai"), "valid_loss"] == float(q[2])
        assert ref.loc[(arch, "keras"), "valid_accuracy"] == float(q[3])
        assert ref.loc[(arch, "fastai"), "valid_accuracy"] == float(q[4])
        hms = [x.replace(" ", "") for x in t[1:5]]
        assert [ref.loc[(arch, "keras"), "phase1_time"], ref.loc[(arch, "fastai"), "phase1_time"],
                ref.loc[(arch, "keras"), "phase2_time"], ref.loc[(arch, "fastai"), "phase2_time"]] == hms


def test_summary_csv_is_one_row_per_expected_run(tmp_path, monkeypatch):
    out, params, _ = build(tmp_path, monkeypatch, libraries=("torch", "keras"), archs=("resnet18", "vgg16"),
                           seeds=(0,), skip={("keras", "vgg16", 0)})
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["library"], r["arch"], r["status"]) for r in rows] == [
        ("torch", "resnet18", "ok"), ("torch", "vgg16", "ok"), ("keras", "resnet18", "ok"),
        ("keras", "vgg16", "missing")]
    assert (out / "figures" / "curves-vgg16.png").is_file()


def test_library_losses_against_the_core_cross_entropy(full):
    """Each library's own last-epoch validation loss next to the core's cross-entropy: equal for
    torch and fastai, higher by the L2 term for keras (read from extras.keras_losses)."""
    tmp_path, out, params, _ = full
    rows = {r[1][0]: r for r in html_table(out, "tab-losses")[1:] if r[0][0] == "resnet18"}
    for library in ("torch", "fastai", "keras"):
        reported, core = [], []
        for seed in params["train"]["seeds"]:
            folder = tmp_path / G.run_dir("results", library, "resnet18", seed)
            if library == "keras":    # Keras's own loss, kept in run.json by its plugin
                info = json.loads((folder / G.RUN_INFO).read_text())
                reported.append(info["extras"]["keras_losses"][-1]["keras_valid_loss"])
            else:                     # history.csv: the library's validation cross-entropy
                reported.append(float(pd.read_csv(folder / G.HISTORY)["valid_loss"].iloc[-1]))
            core.append(json.loads((folder / G.METRICS).read_text())["valid"]["loss"])
        row = rows[library]
        assert float(row[3][1]["data-sort"]) == pytest.approx(np.mean(reported))
        assert float(row[4][1]["data-sort"]) == pytest.approx(np.mean(core))
        assert float(row[5][1]["data-sort"]) == pytest.approx(np.mean(reported) - np.mean(core), abs=1e-6)
    assert rows["torch"][5][0].startswith("0.000") and rows["keras"][5][0].startswith("5.000")
    assert rows["keras"][7][0] == "5.000 ± 0.000" and rows["torch"][7][0] == "–"     # extras.keras_losses l2_keras
    assert rows["keras"][8][0] == "7.000 ± 0.000"                                    # l2_all_kernels
    assert (out / "figures" / "own-losses.png").is_file()
    html = html_text(out)
    discussion = html[html.index('id="discussion"'):]
    assert "reported by fastai and torch equals the core&#39;s cross-entropy to three decimals" in discussion
    assert "within 0.000" not in discussion
    assert "keras adds its L2 penalty (keras.l2 = 0.01)" in discussion
    assert "The L2 term inside keras&#39;s loss is 5.000 at the end of training" in discussion
    assert "as tf.keras 2 did in the thesis, it would be 7.000" in discussion
    assert "the thesis&#39;s Keras validation losses (5.980 to 9.474)" in discussion


def test_lr_find_suggestions_and_rates_used(full):
    tmp_path, out, params, _ = full
    table = html_table(out, "tab-lr-find")
    assert [c[0] for c in table[0]] == ["Model", "Entry", "Phase", "Seeds", "valley", "slide", "minimum",
                                        "steep", "Rate used"]
    rows = {(r[1][0], r[2][0]): r for r in table[1:]}
    assert set(rows) == {("fastai", "phase1"), ("fastai", "phase2")}      # only fastai ran the finder
    for phase in G.PHASES:
        valleys = [json.loads((tmp_path / G.run_dir("results", "fastai", "resnet18", s) / G.RUN_INFO)
                              .read_text())["extras"]["lr_find"][phase]["suggestions"]["valley"]
                   for s in params["train"]["seeds"]]
        row = rows[("fastai", phase)]
        assert row[3][0] == "2"
        assert row[4][0] == f"{min(valleys):.1e}–{max(valleys):.1e}"
        assert float(row[4][1]["data-sort"]) == pytest.approx(np.exp(np.mean(np.log(valleys))))
    assert rows[("fastai", "phase1")][8][0] == "0.003"                       # fastai.phase1.lr
    assert rows[("fastai", "phase2")][8][0] == "[5e-06, 0.0005]"
    assert rows[("fastai", "phase2")][5][0] != "–"                           # one seed lacked it: the other's
    assert (out / "figures" / "lr-find.png").is_file() and (out / "figures" / "lr-find.pdf").is_file()
    assert "lr_find" not in "".join(c[0] for r in html_table(out, "tab-extras") for c in r)


def test_extras_appendix_collapses_what_every_run_agrees_on(full):
    _, out, _, _ = full
    rows = [[c[0] for c in r] for r in html_table(out, "tab-extras")[1:]]
    assert ["torch", "all", "note", "a&b_%c"] in rows and ["keras", "all", "batch_norm_trainable", "yes"] in rows
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert r"a\&b\_\allowbreak{}\%c" in tex and r"\appendix" in tex      # escaped, breakable in a narrow column
    assert r"batch\_\allowbreak{}norm\_\allowbreak{}trainable" in tex


def test_report_dependencies_are_declared_alike_for_snakemake_and_dvc():
    """Everything the memoir is rendered from (besides runs and data) is an input of the report
    job in both front doors, so editing a template, a course or the report code re-runs it."""
    import subprocess
    import sys
    from dlcompare import report
    from dlcompare.report import courses, render
    jobs = json.loads(subprocess.run([sys.executable, str(ROOT / "workflow/scripts/dag_jobs.py"), str(ROOT)],
                                     check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    package = Path(report.__file__).parent.relative_to(ROOT).as_posix()
    needed = {render.TEMPLATES_DIR.as_posix(), courses.COURSES_DIR.as_posix(),
              report.THESIS_TABLE.parent.as_posix(), package}
    for tool in ("snakemake", "dvc"):
        job = next(j for j in jobs[tool] if j["name"] == "report")
        assert needed <= set(job["inputs"]), tool


def test_rate_used_is_what_the_run_recorded(tmp_path, monkeypatch):
    """With fastai.use_lr_find the run trains at the finder's suggestion: show that, not params."""
    out, params, _ = build(tmp_path, monkeypatch, libraries=("fastai",), seeds=(0,))
    info_path = tmp_path / G.run_dir("results", "fastai", "resnet18", 0) / G.RUN_INFO
    info = json.loads(info_path.read_text())
    info["extras"]["learning_rates"] = {"phase1": {"lr": 0.0123, "source": "lr_find"},
                                        "phase2": {"lr": [1e-05, 0.001], "source": "lr_find"}}
    info_path.write_text(json.dumps(info))
    from dlcompare.report import build_report
    build_report(params, lambda msg: None)
    rows = {r[2][0]: r for r in html_table(out, "tab-lr-find")[1:]}
    assert rows["phase1"][-1][0] == "0.0123"
    assert rows["phase2"][-1][0] == "[1e-05, 0.001]"


# --- What the memoir's readers need (issue 13): provenance, the thesis side by side, Table 4.1 by
# concept, figures whose captions match their legends, numbered tables, plain grammar.

def test_page_one_provenance_and_banner(full):
    _, out, params, _ = full
    html = html_text(out)
    top = html[:html.index('<nav class="toc"')]
    for label in ("Profile", "Dataset", "Initial weights", "Epochs (phase 1 + phase 2)", "Seeds", "Hardware",
                  "GPU", "Library versions", "Built", "Git commit", "Reproduce"):
        assert f"<dt>{label}</dt>" in top, label
    # the fixture is not the thesis's profile: the banner says so, with what differs
    assert 'class="banner"' in top and "Not comparable to the thesis&#39;s numbers" in top
    assert "trained from scratch instead of from ImageNet weights" in top
    # epochs as the runs' histories count them (the fixture trains 2 + 3), against the thesis's
    assert "fastai 2 + 3 (thesis 15 + 40)" in top and "keras 2 + 3 (thesis 50 + 100)" in top
    assert "torch 2.14.1" in top and "keras 3.15.1" in top
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert tex.index("Not comparable to the thesis") < tex.index(r"\tableofcontents")


def test_provenance_reads_the_machine_from_run_json(full):
    from dlcompare.report import collect, provenance
    tmp_path, _, params, _ = full
    inputs = collect.collect(params, tmp_path)
    host = {"cpu": "Test CPU 9000", "cores": 16, "threads_per_job": 4, "ram_gib": 64.0, "os": "TestOS 1",
            "gpu": "Test GPU", "gpu_driver": "555.1"}
    for run in inputs.runs:
        run.info = {**run.info, "host": host, "device": "cuda:0"}
    fields = dict(provenance.build(inputs, None).fields)
    assert fields["Hardware"] == ("Test CPU 9000, 16 cores, 4 threads per job, 64 GiB RAM, TestOS 1; "
                                  "GPU Test GPU (driver 555.1)")


def test_machine_description_is_real():
    from dlcompare.host import machine
    host = machine.describe("cpu", 3)
    assert host["cores"] == os.cpu_count() and host["threads_per_job"] == 3 and host["cpu"]
    assert host["ram_gib"] and host["ram_gib"] > 0 and "gpu" not in host


def test_stats_intervals_are_scipy_t_and_exact_binomial():
    from scipy import stats as st
    from dlcompare.report import stats
    iv = stats.mean_interval([0.70, 0.74, 0.78])
    low, high = st.t.interval(0.95, 2, loc=0.74, scale=st.sem([0.70, 0.74, 0.78]))
    assert (iv.low, iv.high) == (pytest.approx(low), pytest.approx(high))
    assert not stats.mean_interval([0.5]).known
    # 10 classes, 360 validation images per run: 0.11 and 0.13 cannot be told from guessing,
    # 0.20 can
    assert stats.at_chance(stats.accuracy_interval([0.11, 0.13], 360), 0.1)
    assert not stats.at_chance(stats.accuracy_interval([0.20, 0.20], 360), 0.1)


def _runs(keras_acc):
    rows = []
    for lib, accs, spe in (("fastai", [0.78, 0.80], 1.0), ("keras", keras_acc, 1.5), ("torch", [0.76, 0.79], 0.9)):
        for seed, acc in enumerate(accs):
            rows.append({"entry": lib, "library": lib, "arch": "resnet18", "seed": seed, "status": "ok",
                         "valid_accuracy": acc, "valid_loss": 1.0, "seconds_per_epoch": spe + 0.01 * seed,
                         "reported_valid_loss": 1.0 + (50 if lib == "keras" else 0) + seed,
                         "epochs_to_target": 3.0 if lib != "keras" else math.nan})
    return pd.DataFrame(rows)


def _study(frame: pd.DataFrame, images: int = 360):
    """The comparisons of ``frame``'s runs: each run right on its accuracy's share of ``images``
    validation images (a different random subset per run), cross-entropy 1, its seconds per epoch."""
    from dlcompare.report import comparisons
    rng = np.random.default_rng(0)
    found = []
    for (lib, arch), runs in frame.groupby(["library", "arch"], sort=False):
        correct = np.stack([rng.permutation(np.arange(images) < round(a * images)).astype(float)
                            for a in runs["valid_accuracy"]])
        found.append(comparisons.Sample(lib, lib, arch, list(runs["seed"]), correct, np.ones_like(correct),
                                        runs["seconds_per_epoch"].to_numpy(float)))
    return comparisons.compare(found, images, 10)


def test_side_by_side_never_reads_a_chance_result_as_evidence():
    from dlcompare.report import discussion, sidebyside, tables
    thesis = tables.thesis_frame(ROOT / "reports/reference/thesis_table_4_2.csv")
    table = sidebyside.table(_runs([0.11, 0.13]), thesis, 10, 360, same_setting=False, target=0.7,
                             study=_study(_runs([0.11, 0.13])))
    rows = {r[0].text: r for r in table.rows}
    gap = rows["fastai ahead of keras in validation accuracy (mean over models)"]
    assert gap[1].text == "+0.142 (6 models, 1 seed)"          # the thesis's Table 4.2, computed
    assert gap[4].text.startswith("not evidence: keras at chance")
    assert rows["Chance level (1 / classes)"][2].text == "0.100 (10 classes)"
    assert rows["keras needs more seconds per epoch than fastai (keras / fastai)"][4].text == "agrees (direction)"
    assert rows["keras's losses are not comparable with fastai's (they include L2)"][4].text.startswith("agrees")
    text = " ".join(discussion.thesis_sentences(_runs([0.11, 0.13]), thesis, "digits", 10, 360,
                                                _study(_runs([0.11, 0.13]))))
    assert "the same direction" not in text and "at chance level" in text
    # the same numbers with a Keras that learned: the gap is read, with its interval
    table = sidebyside.table(_runs([0.60, 0.62]), thesis, 10, 360, same_setting=False, target=0.7,
                             study=_study(_runs([0.60, 0.62])))
    gap = {r[0].text: r for r in table.rows}["fastai ahead of keras in validation accuracy (mean over models)"]
    assert gap[4].text == "agrees (direction)" and "[" in gap[2].text
    text = " ".join(discussion.thesis_sentences(_runs([0.60, 0.62]), thesis, "digits", 10, 360,
                                                _study(_runs([0.60, 0.62]))))
    assert "the same direction (95 % interval [+" in text


def test_side_by_side_table_in_the_memoir(full):
    _, out, _, _ = full
    rows = html_table(out, "tab-sidebyside")
    assert [c[0] for c in rows[0]] == ["Claim (thesis, chapter 4)", "Thesis", "Re-run [95 % CI]", "Comparable?",
                                       "Verdict"]
    claims = [r[0][0] for r in rows[1:]]
    assert len(claims) == 6 and claims[0] == "Chance level (1 / classes)"
    verdicts = {r[4][0].split(" ")[0].split(":")[0] for r in rows[2:]}
    assert verdicts <= {"agrees", "contradicts", "undecided", "not"}


def test_comparison_tables_read_every_run_from_disk(full):
    """The entries and pairwise tables are computed from each run's probs_valid.npy and the split's
    labels: per-seed accuracies equal metrics.json's, every pair on the model has three rows."""
    tmp_path, out, _, _ = full
    summary = pd.read_csv(out / "summary.csv")
    entries = {r[1][0]: r for r in html_table(out, "tab-entries")[1:]}
    assert set(entries) == {"torch", "fastai", "keras"}
    for lib, row in entries.items():
        accs = summary[summary["library"] == lib].sort_values("seed")["valid_accuracy"]
        assert row[4][0] == ", ".join(f"{a:.3f}" for a in accs)
        assert row[3][0].startswith(f"{accs.mean():.3f} [")
    pairs = html_table(out, "tab-pairwise")[1:]
    assert len(pairs) == 3 * 3
    assert all(r[7][0] in ("ahead", "behind", "not separated") or r[7][0].startswith(("not evidence", "no verdict"))
               for r in pairs)
    assert {r[2][0] for r in pairs} == {"validation accuracy", "validation cross-entropy",
                                        "steady-state seconds per epoch"}


def test_config_table_rows_are_concepts_with_units(full):
    from dlcompare.report import collect, tables
    tmp_path, out, params, _ = full
    rows = {r[0][0]: [c[0] for c in r[1:]] for r in html_table(out, "tab-config")[1:]}
    libs = params["train"]["libraries"]
    col = {lib: i for i, lib in enumerate(libs)}
    assert rows["Input image"][0] == "16×16 px" and rows["Batch size"][0].endswith("images")
    assert rows["One-cycle schedule"][col["fastai"]].startswith("yes")
    assert rows["Discriminative learning rates"][col["fastai"]] == "yes (phase 2)"
    assert rows["One-cycle schedule"][col["keras"]] == "no"
    assert rows["Momentum (β1) schedule"][col["keras"]] == "not used"
    assert rows["Weight decay / L2"][col["keras"]].startswith("L2 0.01 on every conv and dense kernel")
    assert "rotation ±10.8°" in rows["Data augmentation"][col["keras"]]
    assert "rotation ±10°" in rows["Data augmentation"][col["fastai"]]
    assert "backend = tensorflow" in rows["Other settings"][col["keras"]]
    # a run's resolved params (run.json "params") win over the params.yaml section
    inputs = collect.collect(params, tmp_path)
    for run in inputs.runs:
        if run.library == "keras":
            run.info = {**run.info, "params": {**params["keras"], "l2": 0.0005}}
    rows = {r[0].text: r for r in tables.config_table(inputs).rows}
    assert rows["Weight decay / L2"][1 + col["keras"]].text.startswith("L2 0.0005")


def test_curve_captions_match_their_legends_and_fonts_are_vector(full):
    from dlcompare.report import figures
    tmp_path, out, params, _ = full
    from dlcompare.report import collect
    inputs = collect.collect(params, tmp_path)
    fig = figures.curves_figure(inputs, "resnet18", tmp_path / "figs")
    for name, key in (("train", "train"), ("validation", "valid")):
        words = figures.SERIES[key][1]
        assert f"{name} ({words})" in fig.legend and f"{name} {words}" in fig.caption
    assert {"seed 0", "seed 1"} <= set(fig.legend)
    for pdf in (out / "figures").glob("*.pdf"):
        assert b"/Type3" not in pdf.read_bytes(), f"{pdf.name} has Type 3 (bitmap) fonts"
    confusion = figures.confusion_figure(inputs, "resnet18", tmp_path / "figs")
    assert "share" in confusion.caption


def test_tables_and_figures_are_numbered_with_the_thesis_numbers(full):
    _, out, _, _ = full
    html = html_text(out)
    assert "<strong>Table 2.1</strong> <span class=\"thesis-ref\">(= Tabla 4.1)</span>" in html
    assert "<strong>Table 3.1</strong> <span class=\"thesis-ref\">(= Tabla 4.2)</span>" in html
    assert "<strong>Figure 1.1</strong> <span class=\"thesis-ref\">(= Figura 4.1)</span>" in html
    assert '<a href="summary.csv">summary.csv</a>' in html and 'href="../../results/runs/keras/resnet18/seed1/run.json"' in html
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    config = tex.index(r"\label{tab:config}")
    assert tex.rindex(r"\setcounter{table}{0}", 0, config) > tex.rindex(r"\chapter", 0, config)
    assert "(= Tabla 4.1)" in tex[config - 400:config]


def test_course_tables_are_numbered_with_captions_outside_their_scroll_boxes(full):
    _, out, _, _ = full
    for page, table in ((html_text(out), "Table"), ((out / "memoir.es.html").read_text(encoding="utf-8"), "Tabla")):
        for ident, number, thesis in (("moocs", "5.1", "3.1"), ("matrix", "5.2", "3.2")):
            block = page[page.rindex('<div class="table-block">', 0, page.index(f'id="tab-{ident}"')):
                         page.index(f'id="tab-{ident}"')]
            caption = block[:block.index('<div class="scroll"')]            # before the scroll box
            assert f'id="cap-{ident}"><strong>{table} {number}</strong> <span class="thesis-ref">(= Tabla {thesis})' \
                in caption, (table, ident)
            assert f'aria-labelledby="cap-{ident}"' in block
        assert "<caption>" not in page
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    for ident, n in (("moocs", 0), ("matrix", 1)):
        label = tex.index(rf"\label{{tab:{ident}}}")
        assert tex.rindex(rf"\setcounter{{table}}{{{n}}}", 0, label) > tex.rindex(r"\chapter", 0, label)
        assert "(= Tabla 3." in tex[label - 300:label]


def test_spanish_edition_beside_the_english(full):
    """report.languages [en, es]: memoir.es.html in Spanish (headings, table headers, figure
    captions, Appendix B), its own figures, lang="es", links both ways."""
    _, out, _, _ = full
    es = (out / "memoir.es.html").read_text(encoding="utf-8")
    en = html_text(out)
    assert '<html lang="es">' in es and '<html lang="en">' in en
    for text in ("<h2>1 Preparación</h2>", "<h2>2 Configuración</h2>", "<h2>3 Resultados</h2>",
                 "<h2>4 Curvas de entrenamiento e interpretación</h2>", "<h2>6 Discusión</h2>",
                 "Traducción de la terminología</h2>", ">Exactitud<", ">Entropía cruzada<", ">Semillas<",
                 "<dt>Perfil</dt>", "<dt>Reproducir</dt>", "No es comparable con los números de la tesis",
                 "Curvas de entrenamiento de resnet18", "Los números usan el punto decimal",
                 '<dt lang="es">época</dt><dd lang="en">epoch</dd>', "Programa Especializado Aprendizaje Profundo",
                 "funciones de activación"):
        assert text in es, text
    for english in ("<h2>1 Setup</h2>", ">Accuracy<", "<dt>Profile</dt>", "Training curves of"):
        assert english not in es, english
    assert 'href="memoir.html" hreflang="en"' in es and 'href="memoir.es.html" hreflang="es"' in en
    assert (out / "figures/es/curves-resnet18.png").is_file() and (out / "memoir.es.tex").is_file()
    tex = (out / "memoir.es.tex").read_text(encoding="utf-8")
    assert r"\usepackage[spanish,es-tabla" in tex and r"\chapter{Resultados}" in tex


def test_spanish_discussion_and_statistics(full):
    """The discussion chapter, the setup paragraphs and the statistics tables of memoir.es.html are
    Spanish: the same sentences, built from the catalog, with the thesis's terms."""
    _, out, _, _ = full
    es = (out / "memoir.es.html").read_text(encoding="utf-8")
    discussion = es[es.index('id="discussion"'):es.index("</section>", es.index('id="discussion"'))]
    assert "Terminaron 6 de los 6 entrenamientos esperados (3 librerías × 1 modelo × 2 semillas)." in discussion
    assert "El nivel del azar es 0.333 (1/3 clases)." in discussion
    assert "obtiene la mayor exactitud media de validación" in discussion and "Sin separar en" in discussion
    assert "de la varianza bootstrap de las diferencias de exactitud procede de la variación entre semillas" \
        in discussion
    assert "coincide con la entropía cruzada del núcleo hasta la tercera cifra decimal" in discussion
    for english in ("expected runs finished", "Chance level is", "validation accuracy", "Holm-corrected",
                    "seeds", "cross-entropy", "the thesis"):
        assert english not in discussion, english
    assert "La limpieza encontró" in es and "La validación toma al azar" in es
    pairwise = [r[7][0] for r in html_table_of(es, "tab-pairwise")[1:]]
    assert pairwise and set(pairwise) <= {"por delante", "por detrás", "sin separar"}, pairwise
    assert ">Veredicto<" in es and ">Afirmación (tesis, capítulo 4)<" in es and "P(A mejor)" in es


def html_table_of(text: str, table_id: str) -> list[list[tuple[str, dict]]]:
    parser = _Cells(table_id)
    parser.feed(text)
    return parser.rows


def test_discussion_grammar(full):

    _, out, _, _ = full
    html = html_text(out)
    discussion = html[html.index('id="discussion"'):html.index("</section>", html.index('id="discussion"'))]
    for bad in ("(s)", "1 models", "within 0.000", "by no library"):
        assert bad not in discussion, bad
    assert "1 model ×" in discussion and "Chance level is 0.333 (1/3 classes)" in discussion


def test_target_sentence_when_no_library_reaches_it():
    from dlcompare.report import discussion
    frame = pd.DataFrame({"entry": ["torch", "keras"], "epochs_to_target": [math.nan, math.nan]})
    assert discussion.target_sentence("resnet18", frame, 0.8) == "No library reached validation accuracy 0.8 on resnet18."
    frame = pd.DataFrame({"entry": ["torch", "keras", "fastai"], "epochs_to_target": [2.0, math.nan, math.nan]})
    assert discussion.target_sentence("resnet18", frame, 0.8).endswith("; never by keras or fastai.")
