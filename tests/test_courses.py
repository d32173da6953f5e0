"""The course tables (reports/courses/) against the thesis text, and adding a course without code.

The thesis's Table 3.1 and Table 3.2 are parsed from its text here (reports/reference/thesis.txt,
or $DLCOMPARE_THESIS), so a mistyped row, mark or number in the data files fails."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from dlcompare.errors import UserError
from dlcompare.report import courses
from test_report import ROOT, build, html_table, thesis_lines

COURSES = ROOT / "reports" / "courses"


def seed_matrix() -> tuple[list[str], list[tuple[str, list[bool]]]]:
    """(course labels, [(topic without markup, [taught per course])]) of the thesis's Table 3.2."""
    lines = thesis_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Contenido\t"))
    labels = lines[start].split("\t")[1:]
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("Tabla 3.2"):
            break
        if line.strip():
            topic, *marks = line.split("\t")
            rows.append((normalise(topic.removeprefix("- ")), [m.strip() == "✓" for m in marks]))
    return labels, rows


def normalise(text: str) -> str:
    text = re.sub(r"</?i>|\*", "", text)
    return re.sub(r"\s+([,.)])", r"\1", re.sub(r"\s+", " ", text)).strip()


def test_content_matrix_matches_the_thesis():
    labels, seed = seed_matrix()
    matrix = courses.load_matrix(COURSES)
    assert [c.label for c in matrix.courses] == labels == ["Ng et al.", "Howard et al."]
    assert len(seed) == len(matrix.topics) == 63
    for (topic, marks), row in zip(seed, matrix.topics):
        assert normalise(row.topic_es) == topic
        assert row.taught == marks, topic
        assert row.topic and row.topic != row.topic_es or row.topic.isascii()   # translated
    for k, course in enumerate(matrix.courses):
        total = sum(marks[k] for _, marks in seed)
        only = sum(marks[k] and sum(marks) == 1 for _, marks in seed)
        assert matrix.total(course.id) == total
        assert matrix.exclusive(course.id) == only
    assert (matrix.total("ng"), matrix.total("howard")) == (43, 49)
    assert (matrix.exclusive("ng"), matrix.exclusive("howard")) == (14, 20)
    assert matrix.shared == 29
    assert [c.highlight for c in matrix.courses] == ["blue", "magenta"]   # as the thesis colours them


def seed_moocs() -> list[list[str]]:
    lines = thesis_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("curso (plataforma)\t"))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("Tabla 3.1"):
            break
        if line.strip():
            rows.append(line.split("\t"))
    return rows


def bullets(cell: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", cell)
    return [b.strip() for b in text.split("–") if b.strip()]


def digits(texts) -> Counter:
    return Counter(n for t in texts for n in re.findall(r"\d+", t))


def test_mooc_table_matches_the_thesis():
    seed = seed_moocs()
    moocs = courses.load_moocs(COURSES)
    assert len(seed) == len(moocs) == 7
    for row, mooc in zip(seed, moocs):
        name, prerequisites, characteristics, contents = row
        match = re.fullmatch(r"(.*?)(?: \((\w+)\))?", name.strip())
        assert mooc["name_es"] == match.group(1)
        assert mooc["platform"] == match.group(2)
        for cell, key in ((prerequisites, "prerequisites"), (characteristics, "characteristics"),
                          (contents, "contents")):
            assert len(mooc[key]) == len(bullets(cell)), (mooc["name"], key)
            assert digits(mooc[key]) == digits(bullets(cell)), (mooc["name"], key)


def test_bad_mark_and_colour_are_user_errors(tmp_path):
    shutil.copytree(COURSES, tmp_path / "c")
    path = tmp_path / "c" / "topics.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",x,x\n", ",yes,x\n", 1), encoding="utf-8")
    with pytest.raises(UserError, match=r"topics.csv:2: column 'ng' must be 'x' or empty"):
        courses.load_matrix(tmp_path / "c")
    shutil.copy(COURSES / "topics.csv", path)
    meta = tmp_path / "c" / "courses.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("highlight: blue", "highlight: '#00f;}'"))
    with pytest.raises(UserError, match="highlight"):
        courses.load_matrix(tmp_path / "c")


def test_adding_a_course_is_adding_a_column(tmp_path, monkeypatch):
    """A third course column (no courses.yaml entry, no code change) appears in the memoir with
    its own totals and exclusives; topics it shares stop being exclusive."""
    folder = tmp_path / "courses"
    shutil.copytree(COURSES, folder)
    with open(folder / "topics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        row["uned"] = "x" if i in (0, 6, 26) else ""    # shared; LAMB (Howard-only); project mgmt (Ng-only)
    rows.append({"topic": "Spanish terminology", "topic_es": "terminología", "ng": "", "howard": "", "uned": "x"})
    with open(folder / "topics.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    matrix = courses.load_matrix(folder)
    assert [c.id for c in matrix.courses] == ["ng", "howard", "uned"]
    assert (matrix.exclusive("ng"), matrix.exclusive("howard"), matrix.exclusive("uned")) == (13, 19, 1)
    assert matrix.total("uned") == 4 and matrix.shared == 1

    project = tmp_path / "project"
    project.mkdir()
    out, _, _ = build(project, monkeypatch, libraries=("torch",), seeds=(0,), courses_dir=folder)
    table = html_table(out, "tab-matrix")
    assert [c[0] for c in table[0]] == ["Topic", "Ng et al.", "Howard et al.", "uned"]
    assert table[-2][0][0] == "Total" and [c[0] for c in table[-2][1:]] == ["43", "49", "4"]
    assert [c[0] for c in table[-1][1:]] == ["13", "19", "1"]
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert "uned teaches 4 of the 64" in tex


def test_courses_yaml_describes_existing_columns():
    meta = yaml.safe_load((COURSES / "courses.yaml").read_text(encoding="utf-8"))
    with open(COURSES / "topics.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert set(meta) <= set(header) - set(courses.TEXT_COLUMNS)
