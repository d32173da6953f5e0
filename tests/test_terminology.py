"""Appendix B (reports/reference/terminology.csv) against the thesis's own Appendix B: the same
terms in the same order, each Spanish term split from its English where the thesis sets it bold."""

from __future__ import annotations

import csv
import re

from dlcompare.report import terminology
from test_report import ROOT, thesis_lines

TERMS = ROOT / "reports" / "reference" / "terminology.csv"


def thesis_appendix_b() -> list[str]:
    """The thesis's glossary lines, letter headings and list markup removed."""
    lines = thesis_lines()
    start = lines.index("Traducción de la terminología") + 1
    end = lines.index("Bibliografía", start)
    body = [re.sub(r"^- ", "", line.strip()) for line in lines[start:end]]
    return [line for line in body if line and not re.fullmatch(r"[A-Z]\**", line)]


def data_rows() -> list[tuple[str, str]]:
    with open(TERMS, newline="", encoding="utf-8") as fh:
        return [(r["es"], r["en"]) for r in csv.DictReader(line for line in fh if not line.startswith("#"))]


def test_terms_are_the_thesis_appendix_b():
    text = " ".join(thesis_appendix_b())
    rows = data_rows()
    assert len(rows) == 124
    assert " ".join(f"{es} {en}." for es, en in rows) == re.sub(r"\*\*", "", text)
    # where the thesis marks the Spanish term in bold, the data file splits there
    bold = dict(re.findall(r"(?:^|(?<=\. ))(?:\*\*)?([^*.]+?)\*\* ([^*]+?)\.(?= |$)", text))
    assert len(bold) > 60
    for es, en in rows:
        if es in bold:
            assert bold[es] == en, es


def test_terms_render_in_alphabetical_groups():
    groups = terminology.load_terms(TERMS)
    assert sum(len(g) for _, g in groups) == 124
    initials = [initial for initial, _ in groups]
    assert initials == sorted(initials) and len(initials) == len(set(initials))
    assert ("época", "epoch") in dict(groups)["E"]                      # accents sort as the letter
    assert ("máquinas de vectores soporte", "support vector machines") in dict(groups)["M"]
    assert all(terminology._plain(es)[0].upper() == initial for initial, g in groups for es, _ in g)
