"""The memoir's languages: gettext catalogs (reports/i18n/<lang>/LC_MESSAGES/memoir.po, read with
Babel) and one current-language switch, like Django's ``activate``.

Sentence builders and templates call :func:`_` / :func:`ngettext` on English source strings;
inside ``with activate("es"):`` they return the catalog's Spanish, written by hand with the
thesis's own terms (its Appendix B), never machine-translated at run time. Strings defined at
import time are marked with :func:`N_` and translated where they are shown. English is the
source language and needs no catalog.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
from pathlib import Path

from babel.messages import mofile, pofile
from babel.support import NullTranslations, Translations

from dlcompare.errors import UserError

CATALOGS = Path("reports/i18n")
DOMAIN = "memoir"
LANGUAGES = ("en", "es")          # en: the source strings; es: the Spanish edition


_current: contextvars.ContextVar[tuple[str, NullTranslations]] = contextvars.ContextVar(
    "memoir_language", default=("en", NullTranslations()))


def catalog_path(lang: str, folder: Path = CATALOGS) -> Path:
    return folder / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime: float) -> Translations:
    with open(path, "rb") as fh:
        catalog = pofile.read_po(fh, locale=path.parts[-3], domain=DOMAIN)
    compiled = io.BytesIO()
    mofile.write_mo(compiled, catalog, use_fuzzy=False)      # a fuzzy entry stays English
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def translations(lang: str, folder: Path = CATALOGS) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    path = catalog_path(lang, folder).resolve()
    if not path.is_file():
        raise UserError(f"report.languages: no catalog for {lang!r} ({path} not found); "
                        f"use one of {', '.join(LANGUAGES)}")
    return _load(path, path.stat().st_mtime)


@contextlib.contextmanager
def activate(lang: str, folder: Path = CATALOGS):
    """Make ``lang`` the current language of :func:`_` within the block."""
    token = _current.set((lang, translations(lang, folder)))
    try:
        yield
    finally:
        _current.reset(token)


def language() -> str:
    return _current.get()[0]


def _(message: str) -> str:
    return _current.get()[1].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get()[1].ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated where shown)."""
    return message


# Each language's name, translated where shown ("inglés", "español" in the Spanish edition).
NAMES = {"en": N_("English"), "es": N_("Spanish")}


def suffix(lang: str) -> str:
    """File-name part of an edition: memoir.html for English, memoir.es.html for Spanish."""
    return "" if lang == "en" else f".{lang}"


def extract(root: Path = Path(".")):
    """Every message of the report code and both templates, as a Babel catalog (the template of
    the .po files): Babel's Python extractor over workflow/dlcompare/report/*.py and Jinja's over
    the templates, with the LaTeX template's own delimiters."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    from dlcompare.report import render

    def jinja_options(syntax: dict) -> dict:
        return {k: str(v).lower() if isinstance(v, bool) else v for k, v in syntax.items()} | {
            "newstyle_gettext": "true"}

    sources = [(path, "python", {}) for path in sorted((root / "workflow/dlcompare/report").glob("*.py"))]
    sources += [(root / render.TEMPLATES_DIR / "memoir.html.j2", "jinja2.ext:babel_extract",
                 jinja_options(render.HTML_SYNTAX)),
                (root / render.TEMPLATES_DIR / "memoir.tex.j2", "jinja2.ext:babel_extract",
                 jinja_options(render.LATEX_SYNTAX))]
    catalog = Catalog(domain=DOMAIN, project="dlcompare memoir", charset="utf-8")
    for path, method, options in sources:
        for line, message, comments, context in extract_from_file(
                method, path, keywords={"_": None, "N_": None, "ngettext": (1, 2)}, options=options):
            catalog.add(message, None, [(str(path.relative_to(root)), line)], auto_comments=comments,
                        context=context)
    return catalog


def update(lang: str, root: Path = Path(".")) -> Path:
    """Merge newly extracted messages into a language's .po (new ones empty, vanished ones
    dropped): `make messages`; the Spanish is then written by hand."""
    path = catalog_path(lang, root / CATALOGS)
    with open(path, "rb") as fh:
        catalog = pofile.read_po(fh, locale=lang, domain=DOMAIN)
    catalog.update(extract(root), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.header_comment = (f"# The memoir's {NAMES[lang]} edition, translated by hand with the thesis's terms (its "
                              "Appendix B).\n# `make messages` merges new strings in; tests/test_i18n.py fails "
                              "until each is translated.")
    catalog.last_translator = catalog.language_team = "dlcompare"
    catalog.msgid_bugs_address = ""
    catalog.revision_date = catalog.creation_date

    with open(path, "wb") as fh:
        pofile.write_po(fh, catalog, width=100, omit_header=False, sort_output=False, no_location=False)
    return path
