"""`dlcompare report`: the memoir (LaTeX/PDF and HTML) regenerated from what actually ran.

Reads the data reports, the split and every expected run's artifacts (missing runs are shown as
missing), computes tables, figures and a data-driven discussion, renders reports/templates/ and
swaps the whole build directory into reports/build at once. Files written there:
memoir.tex, memoir.pdf (when TeX is installed), memoir.html (standalone), summary.csv (one row
per expected run), summary_by_model.csv (mean/std over seeds), figures/*.png|pdf.
"""

from __future__ import annotations

from pathlib import Path

from dlcompare import __version__, atomic
from dlcompare.errors import UserError
from dlcompare.glossary import REPORT_DIR
from dlcompare.report import collect, courses, discussion, extras, figures, render, tables, terminology

THESIS_TABLE = Path("reports/reference/thesis_table_4_2.csv")


def context(inputs: collect.Inputs, runs, out: Path, thesis_path: Path) -> dict:
    params = inputs.params
    figs = figures.draw_all(inputs, runs, out)
    singles = [figs[name] for name in ("dataset", "overview", "lr_find", "own_losses")]
    for fig in [*singles, *figs["curves"], *figs["confusion"]]:
        if fig is not None:
            fig.data_uri = render.data_uri(out / fig.png)
    results = [tables.quality_table(inputs, runs, "valid"), tables.quality_table(inputs, runs, "test"),
               tables.cost_table(inputs, runs)]
    thesis = tables.thesis_frame(thesis_path)
    matrix = courses.load_matrix()
    return {
        "title": params.get("report", {}).get("title", "dlcompare memoir"),
        "version": __version__,
        "params": params,
        "classes": inputs.classes,
        "n_ok": sum(r.ok for r in inputs.runs), "n_expected": len(inputs.runs),
        "setup": discussion.setup_paragraphs(inputs),
        "cleaning": tables.cleaning_table(inputs),
        "environment": tables.environment_table(inputs),
        "config": tables.config_table(inputs),
        "results": results,
        "status": tables.status_table(inputs),
        "confused": tables.confused_pairs(inputs),
        "losses": extras.loss_table(inputs, runs),
        "lr_find": extras.lr_find_table(inputs),
        "extras": extras.extras_table(inputs),
        "thesis": tables.thesis_table(thesis_path),
        "figures": figs,
        "discussion": discussion.write(runs, params, thesis),
        "moocs": courses.load_moocs(),
        "matrix": matrix,
        "course_stats": [{"course": c, "total": matrix.total(c.id), "exclusive": matrix.exclusive(c.id),
                          "assessed": matrix.assessed(c.id)} for c in matrix.courses],
        "terms": terminology.load_terms(),
    }


def build_report(params: dict, log=print) -> Path:
    """Render reports/build from the current directory's results (the `dlcompare report` stage)."""
    for name in ("memoir.tex.j2", "memoir.html.j2"):
        if not (render.TEMPLATES_DIR / name).is_file():
            raise UserError(f"{render.TEMPLATES_DIR / name} not found: run `dlcompare report` "
                            "from the project root")
    inputs = collect.collect(params)
    runs = tables.run_frame(inputs)
    error = None
    with atomic.atomic_dir(REPORT_DIR) as out:
        out.chmod(0o755)                  # mkdtemp makes it private; the memoir is for reading
        runs.to_csv(out / "summary.csv", index=False)
        tables.model_frame(runs).to_csv(out / "summary_by_model.csv", index=False)
        render.render(out, context(inputs, runs, out, THESIS_TABLE))
        error = render.compile_pdf(out, log, Path(REPORT_DIR))
    build = Path(REPORT_DIR)
    made = [build / n for n in ("memoir.pdf", "memoir.html", "memoir.tex") if (build / n).is_file()]
    log(f"memoir from {sum(r.ok for r in inputs.runs)} of {len(inputs.runs)} expected runs: "
        + ", ".join(str(p) for p in made))
    if error:
        raise UserError(error)
    return build
