"""`dlcompare report`: the memoir (LaTeX/PDF and HTML) regenerated from what actually ran.

Reads the data reports, the split and every expected run's artifacts (missing runs are shown as
missing), computes tables, figures and a data-driven discussion, renders reports/templates/ and
swaps the whole build directory into reports/build at once. Files written there, per edition of
``report.languages`` (English: memoir.*, Spanish: memoir.es.*, see :mod:`dlcompare.report.i18n`):
memoir.tex, memoir.pdf (when TeX is installed), memoir.html (standalone), figures/*.png|pdf
(Spanish: figures/es/); and once: summary.csv (one row per expected run), summary_by_model.csv
(mean/std over seeds).
"""

from __future__ import annotations

from pathlib import Path

from dlcompare import __version__, atomic
from dlcompare.errors import UserError
from dlcompare import glossary as G
from dlcompare.glossary import REPORT_DIR
from dlcompare.report import (collect, comparisons, courses, discussion, extras, figures, i18n, numbering, provenance,
                              render, sidebyside, tables, terminology)
from dlcompare.report.i18n import N_, _, ngettext

THESIS_TABLE = Path("reports/reference/thesis_table_4_2.csv")
DEFAULT_TITLE = N_("Deep-learning libraries compared: a reproducible re-run")


def editions(params: dict, pdf: bool) -> list[dict]:
    """The memoir's editions (report.languages), each with its file names, for the links between
    them; ``pdf``: whether TeX is there (an edition whose babel language is missing gets none)."""
    out = []
    for lang in params.get("report", {}).get("languages", ["en"]):
        stem = "memoir" + i18n.suffix(lang)
        out.append({"lang": lang, "name": _(i18n.NAMES[lang]), "html": f"{stem}.html",
                    "pdf": f"{stem}.pdf" if pdf and render.babel_available(lang) else None, "stem": stem})
    return out


def context(inputs: collect.Inputs, runs, out: Path, thesis_path: Path, lang: str = "en") -> dict:
    """Everything the templates print, in the current language (call inside i18n.activate)."""
    params = inputs.params
    figs = figures.draw_all(inputs, runs, out)
    singles = [figs[name] for name in ("dataset", "overview", "lr_find", "own_losses")]
    for fig in [*singles, *figs["curves"], *figs["confusion"]]:
        if fig is not None:
            fig.data_uri = render.data_uri(out / fig.png)
    results = [tables.quality_table(inputs, runs, "valid"), tables.quality_table(inputs, runs, "test"),
               tables.cost_table(inputs, runs)]
    thesis = tables.thesis_frame(thesis_path)
    matrix, moocs = courses.in_language(courses.load_matrix(), courses.load_moocs(), lang)
    n_classes = len(inputs.classes)
    images = int(inputs.split_counts["valid"].sum()) if inputs.split_counts is not None else None
    origin = provenance.build(inputs, thesis)
    ok = runs[runs["status"] == "ok"]
    study = comparisons.study(inputs)
    side = sidebyside.table(ok, thesis, n_classes, images, same_setting=not origin.banner,
                            target=params.get("report", {}).get("target_accuracy", 0.8), study=study) \
        if not ok.empty else None
    shown = {"cleaning": tables.cleaning_table(inputs), "environment": tables.environment_table(inputs),
             "config": tables.config_table(inputs), "status": tables.status_table(inputs),
             "confused": tables.confused_pairs(inputs), "losses": extras.loss_table(inputs, runs),
             "lr_find": extras.lr_find_table(inputs), "extras": extras.extras_table(inputs),
             "thesis": tables.thesis_table(thesis_path), "sidebyside": side,
             "entries": comparisons.entries_table(study), "pairwise": comparisons.pairwise_table(study),
             "ablations": comparisons.ablation_table(study, comparisons.variant_questions(params))}
    present = [t.id for t in [*shown.values(), *results] if t is not None and (t.id != "confused" or t.rows)]
    return {
        **shown,
        # The profiles' title is in the catalog; a title of one's own prints as written.
        "title": _(params.get("report", {}).get("title", DEFAULT_TITLE)),
        "lang": lang,
        "editions": [e for e in editions(params, render.tex_available()) if e["lang"] != lang],
        "version": __version__,
        "params": params,
        "classes": inputs.classes,
        "n_ok": sum(r.ok for r in inputs.runs), "n_expected": len(inputs.runs),
        "pdf_name": "memoir" + i18n.suffix(lang) + ".pdf",
        "notices": notices(inputs),
        "setup": discussion.setup_paragraphs(inputs),
        "results": results,
        "provenance": origin,
        "numbers": numbering.numbers(figs, present + ["moocs", "matrix"]),
        "pdf_built": render.tex_available() and render.babel_available(lang),
        "run_files": [{"run": f"{r.entry}/{r.arch}/seed{r.seed}",
                       "metrics": f"../../{G.run_dir(G.RESULTS_DIR, r.entry, r.arch, r.seed)}/{G.METRICS}",
                       "info": f"../../{G.run_dir(G.RESULTS_DIR, r.entry, r.arch, r.seed)}/{G.RUN_INFO}"}
                      for r in inputs.runs if r.ok],
        "figures": figs,
        "discussion": discussion.write(runs, params, thesis, n_classes, images, study),
        "moocs": moocs,

        "matrix": matrix,
        "course_stats": [{"course": c, "total": matrix.total(c.id), "exclusive": matrix.exclusive(c.id),
                          "assessed": matrix.assessed(c.id)} for c in matrix.courses],
        "terms": terminology.load_terms(),
    }


def notices(inputs: collect.Inputs) -> list[str]:
    """Warnings for page one: no finished run, stale runs left out, one-colour images."""
    out = []
    n_ok = sum(r.ok for r in inputs.runs)
    if not n_ok:
        out.append(_("No expected run finished on the current split and params (0 of {n}): this memoir "
                     "has no results. See the table of runs that did not finish and logs/ for why.")
                   .format(n=len(inputs.runs)))
    stale = [r for r in inputs.runs if r.status == collect.STALE]
    if stale:
        out.append(ngettext("{n} run left out as stale, trained on another split or with other parameters "
                            "than the current ones: {runs} ({why}). Train it again to include it.",
                            "{n} runs left out as stale, trained on another split or with other parameters "
                            "than the current ones: {runs} ({why}). Train them again to include them.",
                            len(stale)).format(
            n=len(stale), runs=", ".join(f"{r.entry}/{r.arch}/seed{r.seed}" for r in stale),
            why=stale[0].reason.removeprefix('stale: ')))
    for stage, report, key in (("clean", inputs.cleaning, "constant_colour"),
                               ("split", inputs.split, "constant_images")):
        found = (report or {}).get(key)
        count = found.get("count", 0) if isinstance(found, dict) else len(found or [])
        if count:
            out.append(ngettext("{count:,} image decodes to a single colour after {stage} (nothing to learn "
                                "from; listed in {file}).",
                                "{count:,} images decode to a single colour after {stage} (nothing to learn "
                                "from; listed in {file}).", count).format(
                count=count, stage=stage, file=f"results/{'cleaning' if stage == 'clean' else 'split'}.json"))
    return out


def compile_editions(out: Path, params: dict, log) -> str | None:
    """Each edition's PDF; one without TeX's babel language for it is skipped with a note (its
    .tex and .html stand). Returns the first LaTeX error, or None."""
    error = None
    for edition in editions(params, True):
        if not render.tex_available():
            render.compile_pdf(out, log)             # says why there is no PDF, once
            break
        if edition["pdf"] is None:
            log(f"note: {edition['stem']}.pdf not built: TeX lacks babel's {render.BABEL[edition['lang']]} "
                f"(install {render.BABEL_PACKAGE[edition['lang']]}: `make tex`); {edition['stem']}.tex "
                f"and {edition['stem']}.html are written")
            continue
        error = error or render.compile_pdf(out, log, Path(REPORT_DIR), stem=edition["stem"])
    return error


def build_report(params: dict, log=print) -> Path:
    """Render reports/build from the current directory's results (the `dlcompare report` stage)."""
    for name in ("memoir.tex.j2", "memoir.html.j2"):
        if not (render.TEMPLATES_DIR / name).is_file():
            raise UserError(f"{render.TEMPLATES_DIR / name} not found: run `dlcompare report` "
                            "from the project root")
    inputs = collect.collect(params)
    runs = tables.run_frame(inputs)
    langs = params.get("report", {}).get("languages", ["en"])
    for lang in langs:
        i18n.translations(lang)                 # a missing catalog stops here, before any work
    with atomic.atomic_dir(REPORT_DIR) as out:
        runs.to_csv(out / "summary.csv", index=False)
        tables.model_frame(runs).to_csv(out / "summary_by_model.csv", index=False)
        for lang in langs:
            with i18n.activate(lang):
                render.render(out, context(inputs, runs, out, THESIS_TABLE, lang), lang=lang)
        error = compile_editions(out, params, log)
    build = Path(REPORT_DIR)

    made = [build / f"{e['stem']}.{ext}" for e in editions(params, True) for ext in ("pdf", "html", "tex")
            if (build / f"{e['stem']}.{ext}").is_file()]
    n_ok = sum(r.ok for r in inputs.runs)
    log(f"memoir from {n_ok} of {len(inputs.runs)} expected runs: " + ", ".join(str(p) for p in made))
    stale = [r for r in inputs.runs if r.status == collect.STALE]
    if stale:
        log(f"warning: {len(stale)} stale run(s) left out of the memoir ({stale[0].reason.removeprefix('stale: ')}): "
            + ", ".join(f"{r.entry}/{r.arch}/seed{r.seed}" for r in stale) + "; train them again")
    if error:
        raise UserError(error)
    if not n_ok:
        raise UserError(f"no expected run finished on the current split and params (0 of {len(inputs.runs)}); "
                        f"the memoir in {build} "
                        "says so on page one: train the runs (see logs/) and report again")
    return build
