"""The course tables (reports/courses/) against the thesis text and the four courses' own texts,
and adding a course without code.

The thesis's Table 3.1 and Table 3.2 are parsed from its text here (reports/reference/thesis.txt,
or $DLCOMPARE_THESIS), so a mistyped row, mark or number in the data files fails. The four added
courses' texts are kept in reports/reference/courses/ (copies of ../shared/seeds/001-004), so every
quote cited in reports/courses/evidence.csv is checked against the text it names."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from dlcompare.errors import UserError
from dlcompare.report import courses
from test_report import ROOT, build, html_table, html_text, thesis_lines

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


THESIS_COURSES = ("ng", "howard")
ADDED = {"sca": "001", "torres": "002", "cunef": "003", "ugr": "004"}     # course -> seed number


def test_content_matrix_matches_the_thesis():
    """The thesis's rows come first, with its two columns exactly as printed; the topics added for
    the new courses follow (marked for the two MOOCs from the thesis's account of them)."""
    labels, seed = seed_matrix()
    matrix = courses.load_matrix(COURSES)
    ids = [c.id for c in matrix.courses]
    assert ids == [*THESIS_COURSES, *ADDED]
    assert [c.label for c in matrix.courses[:2]] == labels == ["Ng et al.", "Howard et al."]
    assert len(seed) == 63 and len(matrix.topics) > 63
    for (topic, marks), row in zip(seed, matrix.topics):
        assert normalise(row.topic_es) == topic
        assert row.taught[:2] == marks, topic
        assert all(row.assessed)
        assert row.topic and row.topic != row.topic_es or row.topic.isascii()   # translated
    for row in matrix.topics[63:]:
        assert any(row.taught[2:]) and row.topic_es, row.topic       # added because a new course teaches it
        assert normalise(row.topic_es) not in {topic for topic, _ in seed}
    assert all(all(t.assessed) for t in matrix.topics)
    # the thesis's counts, over its 63 rows and two columns
    thesis_rows = [row.taught[:2] for row in matrix.topics[:63]]
    for k, course in enumerate(matrix.courses[:2]):
        assert sum(t[k] for t in thesis_rows) == sum(marks[k] for _, marks in seed)
        assert sum(t[k] and sum(t) == 1 for t in thesis_rows) == sum(m[k] and sum(m) == 1 for _, m in seed)
        assert matrix.total(course.id) == sum(t.taught[k] for t in matrix.topics)
    assert [sum(t[k] for t in thesis_rows) for k in (0, 1)] == [43, 49]
    assert [sum(t[k] and sum(t) == 1 for t in thesis_rows) for k in (0, 1)] == [14, 20]
    assert sum(all(t) for t in thesis_rows) == 29
    assert [c.highlight for c in matrix.courses[:2]] == ["blue", "magenta"]   # as the thesis colours them
    assert len({c.highlight for c in matrix.courses}) == len(matrix.courses)


def test_every_mark_cites_its_text():
    """Each "x" has a quote on the line cited of that course's text: for the added courses their
    own (copies of the seeds ../shared/seeds/00N_*.txt or $DLCOMPARE_SEEDS/, compared when
    present), for the two MOOCs the thesis (its Table 3.2 row for the first 63 topics, its sections 3.3 and 3.4 after)."""
    matrix = courses.load_matrix(COURSES)
    with open(COURSES / "evidence.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    marks = {(c.id, t.topic) for t in matrix.topics for c, m in zip(matrix.courses, t.taught) if m}
    assert {(r["course"], r["topic"]) for r in rows} == marks and len(rows) == len(marks)
    lines = thesis_lines()
    table = lines.index("Contenido\tNg et al.\tHoward et al.")
    sections = {"ng": (lines.index("3.3 Programa de Ng et al. en Coursera"), lines.index("3.4 Curso de Howard et al. en fast.ai")),
                "howard": (lines.index("3.4 Curso de Howard et al. en fast.ai"), lines.index("3.5 Comparación entre los MOOCs de Ng et al. y de Howard et al."))}
    topics = [t.topic for t in matrix.topics]
    for r in (r for r in rows if r["course"] in THESIS_COURSES):
        n = int(r["line"])
        assert r["quote"] in lines[n - 1], r
        if topics.index(r["topic"]) < 63:                     # the topic's own row of Table 3.2
            assert table < n - 1 < table + 70 and normalise(r["quote"].split("\t")[0].removeprefix("- ")) \
                == normalise(matrix.topics[topics.index(r["topic"])].topic_es), r
        else:                                                # the thesis's account of that course
            lo, hi = sections[r["course"]]
            assert lo < n - 1 < hi, r
    seeds = Path(os.environ.get("DLCOMPARE_SEEDS", ROOT.parent / "shared" / "seeds"))
    for course, number in ADDED.items():
        meta = next(c for c in matrix.courses if c.id == course)
        text = meta.source.read_text(encoding="utf-8")
        lines = text.splitlines()
        for r in (r for r in rows if r["course"] == course):
            assert len(r["quote"]) >= 8 and r["quote"] in lines[int(r["line"]) - 1], r
        shared = sorted(seeds.glob(f"{number}_*.txt"))
        if shared:                                   # the kept copy is the seed, unchanged
            assert shared[0].read_text(encoding="utf-8") == text, course
        assert matrix.total(course) == sum(r["course"] == course for r in rows) > 0
        assert meta.summary and meta.library and meta.title
    # what each added course teaches at least (a loose check against reading the wrong text)
    taught = {c.id: {t.topic for t in matrix.topics if t.taught[k]} for k, c in enumerate(matrix.courses)}
    assert "Long Short-Term Memory (LSTM)" in taught["sca"] & taught["ugr"]
    assert "convolutional neural networks (ConvNets, CNNs)" in taught["torres"]
    assert "convolutional neural networks (ConvNets, CNNs)" not in taught["cunef"]


def test_evidence_mistakes_are_user_errors(tmp_path):
    folder = copy_courses(tmp_path)
    courses.load_matrix(folder)                                   # the copy loads as it is
    path = folder / "evidence.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def write(edited):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(edited)

    k = next(i for i, r in enumerate(rows) if r["course"] == "sca")
    write([{**r, "line": str(int(r["line"]) + 1)} if i == k else r for i, r in enumerate(rows)])
    with pytest.raises(UserError, match=rf"evidence.csv:{k + 2}: the quote is not on line"):
        courses.load_matrix(folder)
    write([r for i, r in enumerate(rows) if i != k])
    with pytest.raises(UserError, match=rf"no evidence for sca's mark on {re.escape(repr(rows[k]['topic']))}"):
        courses.load_matrix(folder)
    write(rows)
    topics = folder / "topics.csv"
    topics.write_text(topics.read_text(encoding="utf-8").replace("\nvectorization,vectorización,x,x,x,",
                                                                 "\nvectorization,vectorización,x,x,,"), encoding="utf-8")
    with pytest.raises(UserError, match=r"sca has no 'x' for 'vectorization'"):
        courses.load_matrix(folder)


def test_highlight_shades_are_readable_on_white():
    """WCAG AA: every highlight shade has a contrast of at least 4.5:1 against white."""
    def luminance(hex_):
        channels = [int(hex_[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    for name, hex_ in courses.COLOURS.items():
        assert 1.05 / (luminance(hex_) + 0.05) >= 4.5, name


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


def copy_courses(tmp_path: Path, name: str = "courses") -> Path:
    """reports/courses and the texts its courses.yaml points to, side by side as in the repo."""
    shutil.copytree(COURSES, tmp_path / name)
    shutil.copytree(ROOT / "reports" / "reference", tmp_path / "reference")
    return tmp_path / name


def test_bad_mark_and_colour_are_user_errors(tmp_path):
    copy_courses(tmp_path, "c")
    path = tmp_path / "c" / "topics.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",x,x,x,x,x,x\n", ",yes,x,x,x,x,x\n", 1), encoding="utf-8")
    with pytest.raises(UserError, match=r"topics.csv:2: column 'ng' must be 'x', '\?' or empty"):
        courses.load_matrix(tmp_path / "c")
    shutil.copy(COURSES / "topics.csv", path)
    meta = tmp_path / "c" / "courses.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("highlight: blue", "highlight: '#00f;}'"))
    with pytest.raises(UserError, match="highlight"):
        courses.load_matrix(tmp_path / "c")


def test_adding_a_course_is_adding_a_column(tmp_path, monkeypatch):
    """A seventh course column (no courses.yaml entry, no code change) appears in the memoir with
    its own totals and exclusives; topics it shares stop being exclusive, and a topic it was not
    assessed on ("?") is exclusive to nobody."""
    folder = copy_courses(tmp_path)
    with open(folder / "topics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    tracking = next(i for i, r in enumerate(rows) if r["topic"].startswith("experiment tracking"))
    for i, row in enumerate(rows):
        row["uned"] = "x" if i in (0, 6, 26) else "?" if i == tracking else ""   # shared; Howard-only; Ng-only
    rows.append({"topic": "Spanish terminology", "topic_es": "terminología", "uned": "x"})
    with open(folder / "topics.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), restval="")
        writer.writeheader()
        writer.writerows(rows)
    before = courses.load_matrix(COURSES)
    matrix = courses.load_matrix(folder)
    assert [c.id for c in matrix.courses] == [c.id for c in before.courses] + ["uned"]
    assert [matrix.exclusive(c.id) for c in before.courses] == [
        before.exclusive(c.id) - {"ng": 1, "howard": 1, "ugr": 1}.get(c.id, 0) for c in before.courses]
    assert matrix.exclusive("uned") == 1 and matrix.total("uned") == 4 and matrix.shared == 1
    assert matrix.assessed("uned") == len(matrix.topics) - 1 and matrix.unassessed

    project = tmp_path / "project"
    project.mkdir()
    out, _, _ = build(project, monkeypatch, libraries=("torch",), seeds=(0,), courses_dir=folder)
    table = html_table(out, "tab-matrix")
    assert [c[0] for c in table[0]] == ["Topic", "Ng et al.", "Howard et al.", "SCA", "Torres", "CUNEF",
                                        "Granada", "uned"]
    assert table[-2][0][0] == "Total" and [c[0] for c in table[-2][1:]] == [
        str(matrix.total(c.id)) for c in matrix.courses]
    assert [c[0] for c in table[-1][1:]] == [str(matrix.exclusive(c.id)) for c in matrix.courses]
    row = table[1 + tracking]
    assert row[0][0].startswith("experiment tracking") and row[-1] == ("–", {"class": "mark", "data-sort": "0",
                                                                           "title": "not assessed"})
    assert "line" in table[1][3][1]["title"]                      # SCA's mark on the first topic cites a line
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    assert f"It teaches 4 of the {len(matrix.topics) - 1} topics assessed for it" in tex
    assert "marks a topic not assessed for that course" in tex
    page = html.unescape(html_text(out))
    for c in matrix.courses[:6]:                                     # the summaries, in both
        assert c.summary.split(",")[0] in page and c.library in page
    assert "Spanish-English terminology" in tex and "Spanish-English terminology" in page
    assert r"\item[ajuste fino] \emph{fine tuning}" in tex and "<dt lang=\"es\">época</dt><dd lang=\"en\">epoch</dd>" in page


def test_courses_yaml_describes_existing_columns():
    meta = yaml.safe_load((COURSES / "courses.yaml").read_text(encoding="utf-8"))
    with open(COURSES / "topics.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert set(meta) <= set(header) - set(courses.TEXT_COLUMNS)
