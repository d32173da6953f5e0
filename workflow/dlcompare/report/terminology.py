"""Appendix B of the thesis, "Traducción de la terminología": the Spanish-English glossary the
memoir reprints, from reports/reference/terminology.csv (``es,en``, kept in the thesis's order and
checked against its text by the tests), grouped by initial as the thesis prints it."""

from __future__ import annotations

import csv
import itertools
import unicodedata
from pathlib import Path

from dlcompare.errors import UserError

TERMS = Path("reports/reference/terminology.csv")


def _plain(text: str) -> str:
    """Lower case without accents: Spanish alphabetical order for these terms (á sorts as a)."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def load_terms(path: Path = TERMS) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(initial, [(Spanish, English), ...]), ...] in alphabetical order."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    except OSError as exc:
        raise UserError(f"cannot read the glossary {path}: {exc.strerror}") from None
    terms = []
    for n, row in enumerate(rows, start=3):
        es, en = (row.get("es") or "").strip(), (row.get("en") or "").strip()
        if not es or not en:
            raise UserError(f"{path}:{n}: a term needs both 'es' and 'en'")
        terms.append((es, en))
    terms.sort(key=lambda t: _plain(t[0]))
    return [(initial.upper(), list(group))
            for initial, group in itertools.groupby(terms, key=lambda t: _plain(t[0])[0])]
