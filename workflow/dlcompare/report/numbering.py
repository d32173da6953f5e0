"""Table and figure numbers, computed once so the PDF and the HTML print the same "Table 3.2",
each with the thesis's number where it has one ("= Tabla 4.2"). The LaTeX template sets its
counters from these numbers instead of counting on its own."""

from __future__ import annotations

from dlcompare.report.i18n import _

# (chapter, kind, id) in the order the memoir shows them; ids not present in a build are skipped.
ORDER = [
    ("1", "table", "cleaning"), ("1", "table", "environment"), ("1", "figure", "dataset"),
    ("2", "table", "config"),
    ("3", "table", "results-valid"), ("3", "table", "results-test"), ("3", "table", "results-cost"),
    ("3", "table", "runs-missing"), ("3", "figure", "overview"), ("3", "table", "losses"),
    ("3", "figure", "own-losses"), ("3", "table", "entries"), ("3", "table", "pairwise"), ("3", "table", "ablations"),
    ("3", "table", "sidebyside"),
    ("3", "table", "thesis"),
    ("4", "figure", "curves-*"), ("4", "figure", "confusion-*"), ("4", "table", "confused"),
    ("4", "table", "lr-find"), ("4", "figure", "lr-find"),
    ("5", "table", "moocs"), ("5", "table", "matrix"),
    ("A", "table", "extras"),
]
THESIS = {"table:config": "Tabla 4.1", "table:results-valid": "Tabla 4.2", "table:thesis": "Tabla 4.2",
          "table:moocs": "Tabla 3.1", "table:matrix": "Tabla 3.2", "figure:dataset": "Figura 4.1",
          "figure:curves-*": "Figura 4.2 / Apéndice A"}


class Number(dict):
    """{"label": "Table 3.1", "n": 1, "thesis": "Tabla 4.2" or ""} for one table or figure."""


def numbers(figs: dict, tables: list[str]) -> dict:
    """{"table:<id>" | "figure:<name>": Number} for the figures drawn and the tables ``tables``
    (ids) this build shows, numbered per chapter in :data:`ORDER`."""
    names = [f.name for key in ("dataset", "overview", "lr_find", "own_losses") if figs.get(key)
             for f in [figs[key]]] + [f.name for f in figs.get("curves", []) + figs.get("confusion", [])]
    out, count = {}, {}
    for chapter, kind, ident in ORDER:
        matched = [n for n in names if n.startswith(ident[:-1])] if ident.endswith("*") else [ident]
        if not ident.endswith("*") and ident not in (names if kind == "figure" else tables):
            continue
        for name in matched:
            k = count[(chapter, kind)] = count.get((chapter, kind), 0) + 1
            label = (_("Table {number}") if kind == "table" else _("Figure {number}")).format(number=f"{chapter}.{k}")

            out[f"{kind}:{name}"] = Number(label=label, n=k, thesis=THESIS.get(f"{kind}:{ident}", ""))
    return out
