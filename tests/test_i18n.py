"""The Spanish edition's catalog: every message of the report code and templates is translated
(not fuzzy, same placeholders), and the current-language switch works as the builders use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from babel.messages import pofile

from dlcompare.errors import UserError
from dlcompare.report import i18n

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*(?::[^}]*)?\}|%\([a-z_]+\)s")


def spanish():
    with open(i18n.catalog_path("es", ROOT / i18n.CATALOGS), "rb") as fh:
        return pofile.read_po(fh, locale="es", domain=i18n.DOMAIN)


def test_every_message_has_a_spanish_translation():
    extracted = i18n.extract(ROOT)
    assert len(extracted) > 200                      # the extractors really read the code and templates
    locations = {path for m in extracted for path, _ in m.locations}
    assert {"reports/templates/memoir.tex.j2", "reports/templates/memoir.html.j2",
            "workflow/dlcompare/report/tables.py", "workflow/dlcompare/report/figures.py"} <= locations
    catalog = spanish()
    problems = []
    for message in extracted:
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = [] if found is None else list(found.string) if isinstance(found.string, (list, tuple)) \
            else [found.string]
        if found is None or not strings or not all(strings):
            problems.append(f"untranslated: {message.id!r} ({message.locations[0][0]})")
        elif found.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        else:
            ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
            wanted = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[-1]))
            for text in strings:
                if set(PLACEHOLDER.findall(text)) - wanted or not set(PLACEHOLDER.findall(ids[0])) <= \
                        set(PLACEHOLDER.findall(text)) | {"%(num)s"}:
                    problems.append(f"placeholders differ: {message.id!r} -> {text!r}")
    assert not problems, "\n".join(problems[:20]) + "\nrun `make messages` and translate in " \
        "reports/i18n/es/LC_MESSAGES/memoir.po"


def test_catalog_has_no_stale_entries():
    """Messages no code uses any more are dropped (make messages), so the catalog stays the code's."""
    used = {m.id for m in i18n.extract(ROOT)}
    assert not [m.id for m in spanish() if m.id and m.id not in used]


def test_current_language_switch():
    assert i18n._("Results") == "Results" and i18n.language() == "en"
    with i18n.activate("es", ROOT / i18n.CATALOGS):
        assert i18n.language() == "es"
        assert i18n._("Results") == "Resultados" and i18n._("Accuracy") == "Exactitud"   # Appendix B
        assert i18n.ngettext("%(num)s topic is taught by every course.",
                             "%(num)s topics are taught by every course.", 2) == "Todos los cursos enseñan %(num)s temas."
        with i18n.activate("en", ROOT / i18n.CATALOGS):
            assert i18n._("Results") == "Results"
        assert i18n._("Results") == "Resultados"
        assert i18n._("a sentence nobody wrote") == "a sentence nobody wrote"
    assert i18n._("Results") == "Results"


def test_builders_speak_the_current_language():
    from dlcompare.report import numbering, tables
    with i18n.activate("es", ROOT / i18n.CATALOGS):
        assert tables.fmt_value(True) == "sí" and tables.split_name("test") == "prueba"
        assert numbering.numbers({}, ["config"])["table:config"]["label"] == "Tabla 2.1"
    assert numbering.numbers({}, ["config"])["table:config"]["label"] == "Table 2.1"


def test_statistics_speak_the_current_language():
    """Verdicts stay codes (compared as they are) and are translated where shown, with the metric
    labels and the reasons a pair gets no verdict."""
    import numpy as np
    from dlcompare.report import comparisons as C, discussion
    rng = np.random.default_rng(0)

    def sample(entry, accuracy, seeds):
        return C.Sample(entry, entry, "resnet18", list(range(seeds)),
                        correct=(rng.random((seeds, 40)) < accuracy).astype(float), nll=rng.random((seeds, 40)),
                        seconds=1 + rng.random(seeds) / 100)

    found = [sample("fastai", 0.9, 3), sample("keras", 0.1, 3), sample("torch", 0.8, 1)]
    with i18n.activate("es", ROOT / i18n.CATALOGS):
        study = C.compare(found, 40, 10, draws=200)
        sentences = discussion.comparison_sentences("resnet18", study)
        verdicts = [row[-1].text for row in C.pairwise_table(study).rows]
        assert discussion.n_seeds(1) == "1 semilla" and discussion.n_runs(2) == "2 entrenamientos"
    assert {c.verdict for c in study.comparisons} <= {C.AT_CHANCE, C.UNKNOWN, C.TIED, C.AHEAD, C.BEHIND}
    assert C.AT_CHANCE == "at chance" and study.pair("fastai", "keras", "resnet18", C.ACCURACY).verdict == C.AT_CHANCE
    assert ("La exactitud de validación de fastai y keras no se compara: keras al nivel del azar, así que la "
            "diferencia no es evidencia.") in sentences
    assert ("fastai y torch quedan sin veredicto en exactitud de validación (una semilla: la varianza entre "
            "semillas es desconocida).") in sentences
    assert "no es evidencia (keras al nivel del azar)" in verdicts and not any("chance" in v for v in verdicts)
    english = discussion.comparison_sentences("resnet18", C.compare(found, 40, 10, draws=200))
    assert any(s.startswith("The validation accuracy of fastai and keras is not compared") for s in english)


def test_a_language_without_catalog_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no catalog for 'es'"):
        i18n.translations("es", tmp_path)


def test_schema_offers_the_languages_with_catalogs():
    from dlcompare import params
    schema = yaml.safe_load((ROOT / "workflow/dlcompare/schemas/params.schema.yaml").read_text(encoding="utf-8"))
    languages = schema["properties"]["report"]["properties"]["languages"]
    assert languages["items"]["enum"] == list(i18n.LANGUAGES) and languages["default"] == list(i18n.LANGUAGES)
    for lang in i18n.LANGUAGES[1:]:
        assert i18n.catalog_path(lang, ROOT / i18n.CATALOGS).is_file()
    assert params.read_yaml(ROOT / "params.yaml")["report"]["languages"] == ["en", "es"]


def test_spanish_mooc_bullets_are_the_thesis_own():
    """Table 3.1 in the Spanish edition is the thesis's text, bullet for bullet."""
    thesis = (ROOT / "reports/reference/thesis.txt").read_text(encoding="utf-8")
    for m in yaml.safe_load((ROOT / "reports/courses/moocs.yaml").read_text(encoding="utf-8")):
        row = next(line for line in thesis.splitlines() if line.startswith(m["name_es"]) and "\t" in line)
        for key in ("prerequisites", "characteristics", "contents"):
            assert len(m[f"{key}_es"]) == len(m[key]), (m["name"], key)
            for item in m[f"{key}_es"]:
                assert item in row.replace("<i>", "").replace("</i>", ""), (m["name"], item)


def test_an_edition_without_its_babel_language_gets_no_pdf_and_a_note(tmp_path, monkeypatch):
    """TeX without babel's spanish (no texlive-lang-spanish): memoir.es.pdf is skipped with a note
    (memoir.es.tex and .html stand), the English PDF is still compiled, and the HTML links no
    Spanish PDF."""
    import dlcompare.report as report
    from dlcompare.report import render
    monkeypatch.setattr(render, "tex_available", lambda: True)
    monkeypatch.setattr(render, "babel_available", lambda lang: lang != "es")
    built, notes = [], []
    monkeypatch.setattr(render, "compile_pdf", lambda out, log, final=None, stem="memoir": built.append(stem))
    params = {"report": {"languages": ["en", "es"]}}
    assert report.compile_editions(tmp_path, params, notes.append) is None
    assert built == ["memoir"] and len(notes) == 1 and "texlive-lang-spanish" in notes[0]
    assert [e["pdf"] for e in report.editions(params, True)] == ["memoir.pdf", None]


def test_babel_languages_are_looked_up_in_tex(monkeypatch):
    from dlcompare.report import render
    assert render.babel_available("en")                       # English needs no extra package
    monkeypatch.setitem(render.BABEL, "es", "no-such-language-file.ldf")
    assert not render.babel_available("es")
