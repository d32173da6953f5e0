"""The course tables of the thesis's chapter 3, from data files under reports/courses/:

- ``moocs.yaml``: Table 3.1, one entry per MOOC;
- ``topics.csv``: Table 3.2, one row per topic, one column per course (``x`` = taught, empty =
  not taught, ``?`` = not assessed: a topic added after the thesis, for a course it did not review);
- ``courses.yaml``: label, title, summary, library and highlight colour of each course column
  (optional per column), and ``source``: the course's text, which makes its marks need evidence;
- ``evidence.csv``: for each mark of a course with a ``source``, the line of that text that shows
  the topic (``course,topic,line,quote``; the quote must appear on that line).

Adding a course is adding a column (and, if wanted, its courses.yaml entry): no code changes.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import yaml

from dlcompare.errors import UserError
from dlcompare.report.i18n import N_, _

COURSES_DIR = Path("reports/courses")
TEXT_COLUMNS = ("topic", "topic_es")
MARKS = {"x": True, "": False, "?": None}      # taught, not taught, not assessed
# Highlight colours: a name (as courses.yaml writes it) and the shade both LaTeX and CSS print,
# each dark enough for WCAG AA contrast (4.5:1) on white.
COLOURS = {"blue": "1F4FB4", "magenta": "A3008F", "teal": "00766A", "purple": "6A1B9A",
           "brown": "8B4513", "red": "C0282D", "green": "2E7D32", "orange": "A84A00",
           "olive": "5F6300", "cyan": "00707F", "violet": "5B3FC4", "gray": "595959"}
# The colour names as the memoir's sentences print them ("shown in blue"), per language.
COLOUR_WORDS = {"blue": N_("blue"), "magenta": N_("magenta"), "teal": N_("teal"), "purple": N_("purple"),
                "brown": N_("brown"), "red": N_("red"), "green": N_("green"), "orange": N_("orange"),
                "olive": N_("olive"), "cyan": N_("cyan"), "violet": N_("violet"), "gray": N_("gray")}


@dataclasses.dataclass
class Course:
    id: str
    label: str
    title: str
    highlight: str
    summary: str = ""
    library: str = ""
    source: Path | None = None     # the course text its evidence quotes
    summary_es: str = ""
    library_es: str = ""
    title_es: str = ""

    @property
    def hex(self) -> str:
        return COLOURS[self.highlight]

    @property
    def colour(self) -> str:
        """The highlight colour's name in the current language."""
        return _(COLOUR_WORDS[self.highlight])


@dataclasses.dataclass
class Evidence:
    line: int
    quote: str


@dataclasses.dataclass
class Topic:
    topic: str
    topic_es: str
    taught: list[bool]          # one per course, in column order
    assessed: list[bool]        # False where the mark is "?" (not assessed)
    exclusive: str | None       # the id of the only course teaching it (all others assessed), else None
    evidence: list[Evidence | None] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Matrix:
    courses: list[Course]
    topics: list[Topic]

    def _index(self, course: str) -> int:
        return [c.id for c in self.courses].index(course)

    def total(self, course: str) -> int:
        i = self._index(course)
        return sum(t.taught[i] for t in self.topics)

    def assessed(self, course: str) -> int:
        i = self._index(course)
        return sum(t.assessed[i] for t in self.topics)

    def exclusive(self, course: str) -> int:
        return sum(t.exclusive == course for t in self.topics)

    @property
    def shared(self) -> int:
        return sum(all(t.taught) for t in self.topics)

    @property
    def unassessed(self) -> bool:
        return not all(all(t.assessed) for t in self.topics)


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _courses(folder: Path, columns: list[str]) -> list[Course]:
    meta_path = folder / "courses.yaml"
    try:
        meta = (yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}) if meta_path.is_file() else {}
    except yaml.YAMLError as exc:
        raise UserError(f"cannot read {meta_path}: {exc}") from None
    courses = []
    for k, cid in enumerate(columns):
        m = meta.get(cid) or {}
        colour = m.get("highlight", list(COLOURS)[k % len(COLOURS)])
        if colour not in COLOURS:
            raise UserError(f"{meta_path}: {cid}.highlight {colour!r} is not one of {', '.join(COLOURS)}")
        source = None
        if m.get("source"):
            source = folder / m["source"]
            if not source.is_file():
                raise UserError(f"{meta_path}: {cid}.source {m['source']!r} not found (relative to {folder})")
        courses.append(Course(cid, m.get("label", cid), m.get("title", ""), colour,
                              m.get("summary", ""), m.get("library", ""), source,
                              m.get("summary_es", ""), m.get("library_es", ""), m.get("title_es", "")))
    return courses


def _evidence(folder: Path, courses: list[Course], topics: list[Topic]) -> None:
    """Attach evidence.csv to the marks; every mark of a course with a source needs one, and
    every quote must be on the line it names."""
    path = folder / "evidence.csv"
    needed = [k for k, c in enumerate(courses) if c.source]
    for t in topics:
        t.evidence = [None] * len(courses)
    if not needed:
        return
    _, rows = _read_csv(path)
    index = {c.id: k for k, c in enumerate(courses)}
    by_name = {t.topic: t for t in topics}
    lines = {k: courses[k].source.read_text(encoding="utf-8").splitlines() for k in needed}
    for n, row in enumerate(rows, start=2):
        k, topic = index.get(row.get("course", "")), by_name.get(row.get("topic", ""))
        if k is None or k not in lines or topic is None:
            raise UserError(f"{path}:{n}: no course {row.get('course')!r} with a source, or no "
                            f"topic {row.get('topic')!r} in topics.csv")
        if not topic.taught[k]:
            raise UserError(f"{path}:{n}: {row['course']} has no 'x' for {row['topic']!r} in topics.csv")
        line = int(row["line"]) if str(row.get("line", "")).isdigit() else 0
        quote = row.get("quote") or ""
        if not quote or not 0 < line <= len(lines[k]) or quote not in lines[k][line - 1]:
            raise UserError(f"{path}:{n}: the quote is not on line {row.get('line')} of "
                            f"{courses[k].source}; correct the line or the quote")
        topic.evidence[k] = Evidence(line, quote)
    for t in topics:
        for k in needed:
            if t.taught[k] and t.evidence[k] is None:
                raise UserError(f"{path}: no evidence for {courses[k].id}'s mark on {t.topic!r}: "
                                f"add a row (course,topic,line,quote) or remove the 'x'")


def load_matrix(folder: Path = COURSES_DIR) -> Matrix:
    path = folder / "topics.csv"
    fields, rows = _read_csv(path)
    columns = [c for c in fields if c not in TEXT_COLUMNS]
    if "topic" not in fields or not columns:
        raise UserError(f"{path} needs a 'topic' column and one column per course")
    courses = _courses(folder, columns)
    topics = []
    for n, row in enumerate(rows, start=2):
        marks = [(row.get(c) or "").strip().lower() for c in columns]
        bad = [c for c, v in zip(columns, marks) if v not in MARKS]
        if bad:
            raise UserError(f"{path}:{n}: column {bad[0]!r} must be 'x', '?' or empty")
        taught = [MARKS[v] is True for v in marks]
        assessed = [MARKS[v] is not None for v in marks]
        only = [c for c, t in zip(columns, taught) if t]
        exclusive = only[0] if len(only) == 1 and len(columns) > 1 and all(assessed) else None
        topics.append(Topic(row["topic"], row.get("topic_es") or "", taught, assessed, exclusive))
    _evidence(folder, courses, topics)
    return Matrix(courses, topics)


def in_language(matrix: Matrix, moocs: list[dict], lang: str) -> tuple[Matrix, list[dict]]:
    """The course tables as an edition prints them: the Spanish edition takes the ``*_es`` texts
    (the thesis's own for Table 3.1 and the topics) where the data files have them."""
    if lang != "es":
        return matrix, moocs
    courses = [dataclasses.replace(c, summary=c.summary_es or c.summary, library=c.library_es or c.library,
                                   title=c.title_es or c.title) for c in matrix.courses]
    topics = [dataclasses.replace(t, topic=t.topic_es.replace("*", "") or t.topic, topic_es=t.topic)
              for t in matrix.topics]
    keys = ("name", "prerequisites", "characteristics", "contents")
    moocs = [{**m, **{k: m[f"{k}_es"] for k in keys if m.get(f"{k}_es")}} for m in moocs]
    return Matrix(courses, topics), moocs


def load_moocs(folder: Path = COURSES_DIR) -> list[dict]:

    path = folder / "moocs.yaml"
    try:
        moocs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    for m in moocs:
        missing = [k for k in ("name", "prerequisites", "characteristics", "contents") if k not in m]
        if missing:
            raise UserError(f"{path}: course {m.get('name', '?')!r} lacks {', '.join(missing)}")
    return moocs
