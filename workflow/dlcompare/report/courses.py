"""The course tables of the thesis's chapter 3, from data files under reports/courses/:

- ``moocs.yaml``: Table 3.1, one entry per MOOC;
- ``topics.csv``: Table 3.2, one row per topic, one column per course (``x`` = taught);
- ``courses.yaml``: label, title and highlight colour of each course column (optional per column).

Adding a course is adding a column (and, if wanted, its courses.yaml entry): no code changes.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import yaml

from dlcompare.errors import UserError

COURSES_DIR = Path("reports/courses")
TEXT_COLUMNS = ("topic", "topic_es")
# Colour names that mean the same to LaTeX's xcolor (with dvipsnames off) and to CSS.
COLOURS = ("blue", "magenta", "red", "green", "cyan", "orange", "purple", "teal", "brown", "olive",
           "violet", "gray", "lime", "pink", "darkgray")


@dataclasses.dataclass
class Course:
    id: str
    label: str
    title: str
    highlight: str


@dataclasses.dataclass
class Topic:
    topic: str
    topic_es: str
    taught: list[bool]          # one per course, in column order
    exclusive: str | None       # the id of the only course teaching it, else None


@dataclasses.dataclass
class Matrix:
    courses: list[Course]
    topics: list[Topic]

    def total(self, course: str) -> int:
        i = [c.id for c in self.courses].index(course)
        return sum(t.taught[i] for t in self.topics)

    def exclusive(self, course: str) -> int:
        return sum(t.exclusive == course for t in self.topics)

    @property
    def shared(self) -> int:
        return sum(all(t.taught) for t in self.topics)


def load_matrix(folder: Path = COURSES_DIR) -> Matrix:
    path = folder / "topics.csv"
    meta_path = folder / "courses.yaml"
    meta = (yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}) if meta_path.is_file() else {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = [c for c in reader.fieldnames or [] if c not in TEXT_COLUMNS]
            rows = list(reader)
    except OSError as exc:
        raise UserError(f"cannot read the course matrix {path}: {exc.strerror}") from None
    if "topic" not in (reader.fieldnames or []) or not columns:
        raise UserError(f"{path} needs a 'topic' column and one column per course")
    courses = []
    for k, cid in enumerate(columns):
        m = meta.get(cid) or {}
        colour = m.get("highlight", COLOURS[k % len(COLOURS)])
        if colour not in COLOURS:
            raise UserError(f"{folder / 'courses.yaml'}: {cid}.highlight {colour!r} is not one of "
                            f"{', '.join(COLOURS)}")
        courses.append(Course(cid, m.get("label", cid), m.get("title", ""), colour))
    topics = []
    for n, row in enumerate(rows, start=2):
        marks = [(row.get(c) or "").strip().lower() for c in columns]
        bad = [c for c, v in zip(columns, marks) if v not in ("", "x")]
        if bad:
            raise UserError(f"{path}:{n}: column {bad[0]!r} must be 'x' or empty")
        taught = [v == "x" for v in marks]
        only = [c for c, t in zip(columns, taught) if t]
        topics.append(Topic(row["topic"], row.get("topic_es") or "", taught,
                            only[0] if len(only) == 1 and len(columns) > 1 else None))
    return Matrix(courses, topics)


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
