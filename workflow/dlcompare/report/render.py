"""Render the memoir templates (Jinja2) to LaTeX and HTML, and compile the LaTeX with latexmk.

LaTeX templates use their own delimiters so LaTeX's braces and % stay literal:
``\\VAR{x}`` prints a value, ``\\BLOCK{for ...}`` is a statement, ``\\#{...}`` a comment.
Every printed value goes through :func:`latex_escape` (Jinja's ``finalize``) unless it is a
:class:`Latex` string built on purpose, so a class name such as ``nævus_&_co`` or ``50%$`` can
never break the build. HTML uses Jinja's own autoescaping. Both have Jinja's i18n extension with
:mod:`dlcompare.report.i18n`'s current language: ``\\VAR{_("Results")}`` / ``{{ _("Results") }}``
(new-style gettext: a literal percent sign is written ``%%``, values are ``_("... %(n)s", n=x)``).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import jinja2
import markupsafe

from dlcompare.report import i18n

TEMPLATES_DIR = Path("reports/templates")
# The LaTeX template's Jinja syntax, shared with the message extractor (tests, `make messages`).
LATEX_SYNTAX = dict(block_start_string=r"\BLOCK{", block_end_string="}", variable_start_string=r"\VAR{",
                    variable_end_string="}", comment_start_string=r"\#{", comment_end_string="}",
                    line_statement_prefix="%%", line_comment_prefix="%#", trim_blocks=True, lstrip_blocks=True)
HTML_SYNTAX = dict(trim_blocks=True, lstrip_blocks=True)

_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
            "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
            "\n": " ", "\r": " ", "\t": " ", "±": r"\ensuremath{\pm}", "×": r"\ensuremath{\times}",
            "→": r"\ensuremath{\rightarrow}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
            "–": "--", "—": "---", "…": r"\ldots{}", "✓": r"\ensuremath{\checkmark}", "€": r"\texteuro{}",
            "−": "-", "\u00a0": "~", "\u00ad": "", "β": r"\ensuremath{\beta}", "ε": r"\ensuremath{\varepsilon}",
            "α": r"\ensuremath{\alpha}"}


class Latex(str):
    """A string that is already LaTeX (printed as is)."""


def _passes(char: str) -> bool:
    """Characters pdflatex's utf8 input + T1 fonts print (Latin-1 and Latin Extended-A letters
    and the usual quotes); anything else is shown as its code point rather than breaking the build."""
    code = ord(char)
    return 0x20 <= code < 0x7F or 0xA1 <= code <= 0x17F and code not in (0x149, 0x17F) \
        or char in "‘’‚“”„•"


def latex_escape(value) -> str:
    if isinstance(value, Latex):
        return value
    out = []
    for char in unicodedata.normalize("NFC", str(value)):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif _passes(char):
            out.append(char)
        elif unicodedata.category(char).startswith("C"):
            continue                                   # control and format characters
        else:
            out.append(r"\texttt{[U+%04X]}" % ord(char))
    return "".join(out)


def breakable(value) -> Latex:
    """Escaped, with line-break points after dots and underscores (long dotted keys in narrow
    table columns would otherwise run into the next column)."""
    return Latex(latex_escape(value).replace(".", r".\allowbreak{}").replace(r"\_", r"\_\allowbreak{}"))


def _finalize(value):
    return "" if value is None else latex_escape(value)


def latex_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
        autoescape=False, finalize=_finalize, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"],
        **LATEX_SYNTAX)
    env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)
    env.filters["latex"] = Latex            # for strings the template itself builds
    env.filters["breakable"] = breakable
    return env


def html_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                             undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"], **HTML_SYNTAX)
    env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)
    return env


def data_uri(path: Path) -> markupsafe.Markup:
    return markupsafe.Markup("data:image/png;base64," + base64.b64encode(path.read_bytes()).decode())


def render(out: Path, context: dict, templates: Path = TEMPLATES_DIR, lang: str = "en") -> tuple[Path, Path]:
    """Write memoir<suffix>.tex and .html in the current language (call inside i18n.activate)."""
    stem = "memoir" + i18n.suffix(lang)
    tex = out / f"{stem}.tex"
    tex.write_text(latex_env(templates).get_template("memoir.tex.j2").render(context), encoding="utf-8")
    html = out / f"{stem}.html"
    html.write_text(html_env(templates).get_template("memoir.html.j2").render(context), encoding="utf-8")
    return tex, html


def tex_available() -> bool:
    return bool(shutil.which("latexmk") and shutil.which("pdflatex"))


# babel's language file for each edition's hyphenation and names (Debian: texlive-lang-spanish)
BABEL = {"en": "english.ldf", "es": "spanish.ldf"}
BABEL_PACKAGE = {"es": "texlive-lang-spanish"}


def babel_available(lang: str) -> bool:
    """Whether TeX finds babel's file for ``lang`` (an edition without it gets no PDF, not a failed build)."""
    if lang not in BABEL_PACKAGE:
        return True
    try:
        found = subprocess.run(["kpsewhich", BABEL[lang]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0 and bool(found.stdout.strip())



def compile_pdf(out: Path, log, final: Path | None = None, timeout: int = 600, stem: str = "memoir") -> str | None:
    """Build <stem>.pdf from <stem>.tex in ``out`` (the staging copy of ``final``); return an error
    message with the LaTeX log's tail, or None."""
    if not tex_available():
        log("note: memoir.pdf not built, latexmk/pdflatex not found (install TeX Live with "
            "`make tex`, which prints the apt-get command when it cannot run it); "
            "memoir.tex and memoir.html are written")
        return None
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           f"{stem}.tex"]
    try:
        proc = subprocess.run(cmd, cwd=out, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
        failed = proc.returncode != 0 or not (out / f"{stem}.pdf").is_file()
    except subprocess.TimeoutExpired:
        failed = True
    if failed:
        log_file = out / f"{stem}.log"
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines() if log_file.is_file() else []
        errors = [line for line in lines if re.match(rf"^(\./)?{re.escape(stem)}\.tex:\d+:|^! ", line)]
        tail = "\n".join((errors[:3] + ["..."] if errors else []) + lines[-20:])
        return (f"LaTeX could not build {stem}.pdf (see {(final or out) / f'{stem}.log'}); "
                f"last lines of its log:\n{tail}")
    subprocess.run(["latexmk", "-c", f"{stem}.tex"], cwd=out, stdin=subprocess.DEVNULL,
                   capture_output=True, check=False)
    return None
