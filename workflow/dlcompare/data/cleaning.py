"""`dlcompare clean`: data/raw -> data/clean + results/cleaning.json (the thesis's section 4.2.1,
generalised to any folder dataset).

Layout: ``<raw>/Train|Test/<class>/...`` (any case of Train/Test; written back as Train/Test)
or flat ``<raw>/<class>/...``. Plain files at the top of ``<raw>`` (e.g. SOURCE.json) are the
download's metadata and are ignored. Files may sit in sub-folders of a class folder.

Decisions (and why):
- **Duplicates are exact copies of the file bytes (sha256).** The thesis's 155 duplicates were
  identical files; hashing bytes finds them without decoding, the same digest goes into the
  manifest, and the result does not depend on the decoder's version. Hashing decoded pixels would
  also catch re-encoded copies, but "same pixels" would then hinge on the JPEG decoder and cost a
  full decode of every file; re-encodings and near-duplicates are out of scope here.
- A duplicate filed under two or more classes has no decidable label: **every copy is removed**.
  Copies within one class: **one is kept**, the Test copy if there is one (the dataset's own test
  set stays as published, and no image is in both train and test), else the first by path.
- Every file under a class folder is accounted for: image files that cannot be decoded
  (empty, truncated, not an image, decompression bomb) count as ``unreadable``; hidden files,
  non-image extensions and files outside class folders are ``ignored``; both are listed in
  ``skipped`` with the reason. Grayscale, palette, RGBA and CMYK images are readable (``split``
  converts them to RGB, transparency composited onto ``data.background``). A file whose name is
  not valid UTF-8 is skipped with that reason (the manifest and reports are UTF-8).
- Images that decode to one colour (e.g. a glyph that vanishes on ``data.background``) are kept
  but counted (``constant``) and listed (``constant_colour``): they carry nothing to learn.
- cleaning.json is written even when clean refuses (too few classes left, no image at all), so
  what was skipped and why can always be read. Files are hashed and test-decoded in worker processes when that pays.
- Classes with fewer than ``data.min_images_per_class`` images after de-duplication (Train and
  Test together, as in the thesis) are dropped and named.
- Class names are folder names in Unicode NFC: a release zipped on macOS (decomposed ``é``) and a
  Test folder typed elsewhere (composed ``é``) name the same class. data/clean uses the NFC name.
- Kept files are hard-linked into data/clean (copied when the file system refuses links).

cleaning.json, per class (and per split under ``splits``): ``before`` (image files found),
``unreadable``, ``duplicates_removed`` (= ``cross_class_duplicates`` + ``within_class_duplicates``),
``after`` (after de-duplication), ``dropped`` (bool), ``kept`` (in data/clean: ``after``, or 0 when
dropped), ``ignored``, ``constant``. Plus ``splits`` totals, ``totals``, ``dropped_classes``,
``duplicates`` (each group with the kept path), ``skipped`` (path + reason), ``constant_colour``
(paths) and, when clean refused, ``error``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from dlcompare import atomic
from dlcompare.data import images
from dlcompare.errors import UserError, printable
from dlcompare.glossary import CLEAN_DIR, CLEANING_REPORT, RAW_DIR, RESULTS_DIR, SOURCE_INFO

PARTS = ("Train", "Test")  # the release's own folders, in the case written to data/clean
FLAT = "flat"
TRAIN_TEST = "train_test"


@dataclass(frozen=True)
class Item:
    """One file under a class folder. ``rel`` is relative to the dataset root, as found on disk."""

    rel: str
    part: str | None  # "Train" / "Test", or None for the flat layout
    label: str
    sub: str  # path inside the class folder

    @property
    def out_rel(self) -> str:
        """Where the file goes in data/clean (Train/Test spelled canonically)."""
        return "/".join(p for p in (self.part, self.label, self.sub) if p)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:   # undecodable bytes, kept by Python as surrogate escapes
        return False


def _walk(folder: Path) -> list[Path]:
    """Every non-directory entry under ``folder``, sorted, not following directory links."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [Path(dirpath) / name for name in sorted(filenames)]
    return found


def scan(root: Path, missing_hint: str = "run `dlcompare download` first"
         ) -> tuple[str, list[Item], list[dict]]:
    """(layout, candidate image files, ignored files as {path, class, split, reason})."""
    if not root.is_dir():
        raise UserError(f"{root} not found: {missing_hint}")
    top = sorted(p for p in root.iterdir() if p.is_dir())
    part_of = {p.name: next((c for c in PARTS if c.casefold() == p.name.casefold()), None) for p in top}
    layout = TRAIN_TEST if any(part_of.values()) else FLAT
    if layout == TRAIN_TEST and "Train" not in part_of.values():
        raise UserError(f"{root} has a Test folder but no Train folder")
    items: list[Item] = []
    ignored: list[dict] = []

    def skip(path: Path, reason: str, label=None, part=None):
        ignored.append({"path": printable(path.relative_to(root).as_posix()), "class": label,
                        "split": part, "reason": reason})

    def scan_class(folder: Path, part: str | None):
        label = unicodedata.normalize("NFC", folder.name)  # macOS zips spell é as e + accent
        for path in _walk(folder):
            sub = path.relative_to(folder).as_posix()
            if not _utf8(path.relative_to(root).as_posix()):
                skip(path, "file name is not valid UTF-8: rename it (e.g. convmv -f latin1 -t utf8)",
                     label if _utf8(label) else None, part)
            elif _hidden(folder.name) or any(_hidden(c) for c in sub.split("/")):
                skip(path, "hidden file", None if _hidden(folder.name) else label, part)
            elif not path.is_file():
                skip(path, f"symbolic link to a missing file ({printable(os.readlink(path))})"
                     if path.is_symlink() else "not a regular file", label, part)
            elif not images.is_image_name(path.name):
                skip(path, f"not an image file (extension {path.suffix or 'none'!r})", label, part)
            else:
                items.append(Item(path.relative_to(root).as_posix(), part, label, sub))

    if layout == FLAT:
        for folder in top:
            scan_class(folder, None)
    else:
        for folder in top:
            part = part_of[folder.name]
            if part is None:
                for path in _walk(folder):
                    skip(path, "outside the Train/ and Test/ folders")
                continue
            for entry in sorted(folder.iterdir()):
                if entry.is_dir():
                    scan_class(entry, part)
                else:
                    skip(entry, "not inside a class folder", None, part)
    return layout, items, ignored


def _inspect(jobs: list[tuple[str, tuple]]) -> list[tuple[str, str | None, bool]]:
    """(sha256 of the bytes, reason it is unreadable or None, one colour only) per (file,
    background) job; runs in worker processes."""
    out = []
    for path, background in jobs:
        data = Path(path).read_bytes()
        try:
            constant, reason = images.check(data, background), None
        except images.Unreadable as exc:
            constant, reason = False, str(exc)
        out.append((hashlib.sha256(data).hexdigest(), reason, constant))
    return out


def _read(root: Path, items: list[Item], background: tuple, workers: int | None):
    """sha256 of every file, the reason each unreadable one fails, and the one-colour files."""
    paths = [str(root / item.rel) for item in items]
    results = images.map_chunks(_inspect, [(p, background) for p in paths], workers,
                                nbytes=images.total_size(paths))
    digest = {item.rel: sha for item, (sha, _, _) in zip(items, results)}
    unreadable = {item.rel: reason for item, (_, reason, _) in zip(items, results) if reason}
    constant = {item.rel for item, (_, _, flat) in zip(items, results) if flat}
    return digest, unreadable, constant


def _deduplicate(items: list[Item], digest: dict[str, str]) -> tuple[dict[str, str], list[dict]]:
    """{rel: "cross_class" | "within_class"} for every removed copy, and the duplicate groups."""
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        groups[digest[item.rel]].append(item)
    removed: dict[str, str] = {}
    report = []
    for sha, group in sorted(groups.items(), key=lambda kv: kv[1][0].rel):
        if len(group) < 2:
            continue
        if len({item.label for item in group}) > 1:
            kept = None
            removed.update({item.rel: "cross_class" for item in group})
        else:
            kept = min(group, key=lambda item: (item.part != "Test", item.rel)).rel
            removed.update({item.rel: "within_class" for item in group if item.rel != kept})
        report.append({"sha256": sha, "paths": [item.rel for item in group], "kept": kept,
                       "classes": sorted({item.label for item in group})})
    return removed, report


def _link_or_copy(src: Path, dst: Path, state: dict) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if state.get("link", True):
        try:
            os.link(os.path.realpath(src), dst)   # os.link would link a symlink itself on Linux
            return
        except OSError:
            state["link"] = False
    shutil.copy2(src, dst)


def run_clean(raw: Path, out: Path, report_path: Path, min_images: int, log,
              workers: int | None = None, background: str = images.DEFAULT_BACKGROUND) -> dict:
    """Clean ``raw`` into ``out`` (atomically) and write the report; returns the report.

    The report's temporary file is created before data/clean is touched and renamed right after
    it is swapped in, so an unwritable results/ fails first and leaves both as they were."""
    started = time.perf_counter()
    raw, out = Path(raw), Path(out)
    leftovers = atomic.remove_leftovers(out)
    if leftovers:
        log(f"removed {len(leftovers)} leftover(s) of an interrupted clean: {', '.join(leftovers)}")
    layout, items, ignored = scan(raw)
    ignored = download_skipped(raw) + ignored
    digest, unreadable, constant = _read(raw, items, images.background_rgb(background), workers)
    readable = [item for item in items if item.rel not in unreadable]
    removed, duplicates = _deduplicate(readable, digest)
    survivors = [item for item in readable if item.rel not in removed]

    labels = sorted({item.label for item in items} | {i["class"] for i in ignored if i["class"]})
    after = Counter(item.label for item in survivors)
    dropped = [label for label in labels if after[label] < min_images]
    kept_labels = [label for label in labels if label not in dropped]
    kept = [item for item in survivors if item.label not in dropped]

    def counts(select) -> dict:
        found = [i for i in items if select(i)]
        gone = Counter(removed[i.rel] for i in found if i.rel in removed)
        n_after = sum(1 for i in survivors if select(i))
        row = {"before": len(found), "unreadable": sum(1 for i in found if i.rel in unreadable),
               "duplicates_removed": gone["cross_class"] + gone["within_class"],
               "cross_class_duplicates": gone["cross_class"],
               "within_class_duplicates": gone["within_class"], "after": n_after}
        row["kept"] = sum(1 for i in kept if select(i))
        row["constant"] = sum(1 for i in found if i.rel in constant and i.rel not in unreadable)
        return row

    parts = PARTS if layout == TRAIN_TEST else ()
    classes = {}
    for label in labels:
        row = counts(lambda i: i.label == label)
        row["dropped"] = label in dropped
        row["ignored"] = sum(1 for i in ignored if i["class"] == label)
        row["splits"] = {p: counts(lambda i: i.label == label and i.part == p) for p in parts}
        classes[label] = row
    totals = counts(lambda i: True)
    totals.update(ignored=len(ignored), classes_before=len(labels), classes_after=len(kept_labels),
                  dropped_images=sum(after[label] for label in dropped))
    skipped = [{"path": i.rel, "class": i.label, "split": i.part, "reason": unreadable[i.rel]}
               for i in items if i.rel in unreadable] + ignored
    report = {
        "source": raw.as_posix(), "layout": layout, "min_images_per_class": min_images,
        "duplicate_key": "sha256 of the file bytes", "classes": classes,
        "splits": {p: counts(lambda i: i.part == p) for p in parts}, "totals": totals,
        "dropped_classes": [{"class": label, "images": after[label],
                             "reason": f"fewer than {min_images} images after de-duplication"}
                            for label in dropped],
        "duplicates": duplicates, "skipped": skipped,
        "constant_colour": [i.rel for i in items if i.rel in constant and i.rel not in unreadable],
    }
    error = _refusal(raw, out, items, labels, kept_labels, kept, after, min_images)
    if error:
        atomic.write_json(report_path, report | {"error": f"{error} ({out} left as it was)"})
        log(summary(report))
        raise UserError(f"{error}; what was skipped and why: {report_path}")

    with atomic.atomic_path(report_path) as report_tmp:
        with atomic.atomic_dir(out) as tmp:
            state: dict = {}
            for item in kept:
                _link_or_copy(raw / item.rel, tmp / item.out_rel, state)
            report_tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
    log(summary(report))
    log(f"cleaned {totals['before']} -> {totals['kept']} images in {time.perf_counter() - started:.1f} s "
        f"({'hard links' if state.get('link', True) else 'copies'}); wrote {out} and {report_path}")
    return report


def download_skipped(raw: Path) -> list[dict]:
    """What `dlcompare download` refused to bring into ``raw`` (SOURCE.json), so that
    cleaning.json lists every file of the dataset that did not make it, with the reason."""
    try:
        entries = json.loads((raw / SOURCE_INFO).read_text(encoding="utf-8")).get("skipped") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [{**entry, "reason": f"download: {entry['reason']}"} for entry in entries
            if isinstance(entry, dict) and {"path", "reason"} <= set(entry)]


def _refusal(raw, out, items, labels, kept_labels, kept, after, min_images) -> str | None:
    """Why clean cannot produce a usable data/clean, or None."""
    if not items:
        return f"no image files found under class folders of {raw}"
    if len(kept_labels) < 2:
        sizes = ", ".join(f"{label} {after[label]}" for label in labels)
        return (f"only {len(kept_labels)} class(es) keep at least data.min_images_per_class="
                f"{min_images} images after cleaning ({sizes}); lower it or add images")
    clash = [rel for rel, n in Counter(item.out_rel for item in kept).items() if n > 1]
    if clash:
        return (f"two files in {raw} would both become {out / clash[0]} "
                "(Train/Test folders differing only in case?)")
    return None


def summary(report: dict) -> str:
    """The one-screen summary: a plain-text table (no colour codes, so it reads well in logs)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Cleaning {report['source']} (classes under {report['min_images_per_class']} "
                        f"images are dropped)", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("class")
    for name in ("before", "duplicates", "unreadable", "after", "kept"):
        table.add_column(name, justify="right")
    table.add_column("")
    for label, row in report["classes"].items():
        table.add_row(label, str(row["before"]), str(row["duplicates_removed"]), str(row["unreadable"]),
                      str(row["after"]), str(row["kept"]), "dropped" if row["dropped"] else "")
    t = report["totals"]
    table.add_section()
    table.add_row("total", str(t["before"]), str(t["duplicates_removed"]), str(t["unreadable"]),
                  str(t["after"]), str(t["kept"]), f"{t['classes_after']}/{t['classes_before']} classes")
    console = Console(file=io.StringIO(), width=100, force_terminal=False, color_system=None)
    console.print(table)
    lines = [line.rstrip() for line in console.file.getvalue().rstrip().splitlines()]
    if t["duplicates_removed"]:
        lines.append(f"duplicates: {t['cross_class_duplicates']} copies filed under different classes "
                     f"(every copy removed), {t['within_class_duplicates']} repeated within a class")
    if report.get("constant_colour"):
        lines.append(f"warning: {len(report['constant_colour'])} images decode to a single colour "
                     f"(nothing to learn; listed in cleaning.json under constant_colour), e.g. "
                     f"{report['constant_colour'][0]}")
    for entry in report["dropped_classes"]:
        lines.append(f"dropped class {entry['class']!r}: {entry['images']} images ({entry['reason']})")
    if report["skipped"]:
        reasons = Counter(entry["reason"].removeprefix("download: ").split(" (")[0].split(":")[0]
                          for entry in report["skipped"])
        lines.append(f"skipped {len(report['skipped'])} files (listed in cleaning.json): "
                     + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()))
        lines += [f"  {entry['path']}: {entry['reason']}" for entry in report["skipped"][:5]]
        if len(report["skipped"]) > 5:
            lines.append(f"  ... and {len(report['skipped']) - 5} more")
    return "\n".join(lines)


def clean(params: dict, log) -> dict:
    """The `dlcompare clean` stage: data/raw -> data/clean and results/cleaning.json."""
    return run_clean(Path(RAW_DIR), Path(CLEAN_DIR), Path(RESULTS_DIR) / CLEANING_REPORT,
                     params["data"]["min_images_per_class"], log,
                     background=params["data"].get("background", images.DEFAULT_BACKGROUND))
