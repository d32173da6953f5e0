"""`dlcompare download`: fetch data.dataset into data/raw, all or nothing.

data/raw ends up as either ``Train/<class>/<files>`` + ``Test/<class>/<files>`` (digits, isic,
a folder with Train/Test) or ``<class>/<files>`` (a folder without them; the split stage carves
the test share), plus a small SOURCE.json (dataset, origin, archive sha256, counts; never a
credential). Everything is built in a temporary sibling of data/raw and renamed into place only
when complete, so an interrupted or refused download leaves nothing that looks finished.

- digits: scikit-learn's embedded digits (dlcompare.data.digits), no network.
- isic: data.url (+ required data.sha256) streamed with requests, or else the official Kaggle
  API for data.kaggle_dataset; the archive is verified, extracted safely (dlcompare.data.safe_extract)
  and the folder holding Train/ and Test/ (nested in the Kaggle zip) is moved into place.
- folder: the user's images at data.path, hard-linked when on the same filesystem, else copied.
  Symbolic links are followed to their targets wherever these are (a git-annex or DataLad
  dataset is all links into .git/annex): data/raw gets the target's content under the link's
  name. Refused, each with its reason in SOURCE.json ``skipped`` (and so in cleaning.json): links
  to a missing file, links to a folder that lead back into their own tree (a loop).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from dlcompare import atomic, progress
from dlcompare.data import safe_extract
from dlcompare.errors import UserError, printable
from dlcompare.glossary import DATASETS, RAW_DIR, SOURCE_INFO

SOURCE = SOURCE_INFO
SPLIT_NAMES = ("Train", "Test")
IGNORED_DIRS = ("__MACOSX",)   # resource forks that macOS zips add next to the real tree
CHUNK = 1 << 20


def download(params: dict, log=print) -> Path:
    """Materialise data.dataset into data/raw (relative to the current directory)."""
    data = params["data"]
    dataset = data["dataset"]
    raw = Path(RAW_DIR)
    start = time.perf_counter()
    remove_leftovers(raw, log)
    with atomic.atomic_dir(raw) as staging:
        if dataset == "digits":
            source = _digits(data, staging, log)
        elif dataset == "folder":
            source = _folder(data, staging, log)
        elif dataset == "isic":
            source = _isic(data, staging, log)
        else:  # the schema already restricts data.dataset; this guards direct callers
            raise UserError(f"unknown data.dataset {dataset!r}: expected {', '.join(DATASETS)}")
        source["counts"] = inventory(staging)
        atomic.write_json(staging / SOURCE, source)
    counts = ", ".join(f"{name} {c['files']} files in {c['classes']} classes"
                       for name, c in source["counts"].items())
    log(f"download: {raw} ready ({dataset}: {counts}) in {time.perf_counter() - start:.1f}s")
    return raw


def remove_leftovers(raw: Path, log) -> None:
    """Delete the hidden temporary folders (``.raw.*``) that a killed download left next to
    data/raw: they never look finished, but an unfinished archive can weigh gigabytes."""
    stale = atomic.remove_leftovers(raw)
    if stale:
        log(f"download: removed {len(stale)} leftover(s) of an interrupted download: " + ", ".join(stale))


def inventory(root: Path) -> dict:
    """Files and classes per split ("all" for a flat class layout)."""
    splits = [root / name for name in SPLIT_NAMES if (root / name).is_dir()]
    groups = {p.name: p for p in splits} if splits else {"all": root}
    out = {}
    for name, folder in groups.items():
        classes = [d for d in folder.iterdir() if d.is_dir()]
        out[name] = {"classes": len(classes),
                     "files": sum(1 for d in classes for f in d.rglob("*") if f.is_file())}
    return out


# --- digits -----------------------------------------------------------------------------------

def _digits(data: dict, staging: Path, log) -> dict:
    from dlcompare.data.digits import RESAMPLING, write_digits

    log(f"download: writing scikit-learn digits as {data['image_size']}px RGB PNGs")
    write_digits(staging, data["image_size"], data["test_fraction"], data["split_seed"])
    return {"dataset": "digits", "origin": "sklearn.datasets.load_digits (embedded)",
            "image_size": data["image_size"], "resampling": RESAMPLING.name.lower(),
            "test_fraction": data["test_fraction"], "split_seed": data["split_seed"]}


# --- folder -----------------------------------------------------------------------------------

def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and d.name not in IGNORED_DIRS)


def class_dirs(folder: Path) -> list[Path]:
    """Sub-folders that hold at least one file: the classes."""
    return [d for d in _visible_dirs(folder) if any(f.is_file() for f in d.rglob("*"))]


def split_dirs(root: Path) -> dict[str, Path] | None:
    """{"Train": .., "Test": ..} when ``root`` has both (any letter case), None when neither."""
    by_name = {d.name.lower(): d for d in _visible_dirs(root)}
    found = {name: by_name.get(name.lower()) for name in SPLIT_NAMES}
    if all(found.values()):
        return found
    present = [p.name for p in found.values() if p]
    if present:
        missing = [n for n, p in found.items() if not p][0]
        raise UserError(f"{root} has {present[0]}/ but no {missing}/ folder: give both, or put "
                        f"the class folders directly under {root}")
    return None


def _check_classes(folder: Path, root: Path) -> list[Path]:
    classes = class_dirs(folder)
    if not classes:
        loose = sum(1 for f in folder.iterdir() if f.is_file())
        found = f" (found {loose} loose files and no class folder)" if loose else ""
        raise UserError(f"no class folders with images under {folder}{found}; expected "
                        f"{root}/<class>/<images> or {root}/Train|Test/<class>/<images>")
    return classes


def _folder(data: dict, staging: Path, log) -> dict:
    if not data.get("path"):
        raise UserError("data.path is required for data.dataset=folder")
    root = Path(data["path"]).expanduser()
    if not root.is_dir():
        raise UserError(f"data.path {root} does not exist or is not a folder")
    splits = split_dirs(root)
    plan = ({name: _check_classes(folder, root) for name, folder in splits.items()} if splits
            else {"": _check_classes(root, root)})
    counter = {"linked": 0, "copied": 0}
    skipped: list[dict] = []
    where = {}

    def refuse(src, reason: str) -> None:
        rel = Path(src).relative_to(where["cls"]).as_posix()
        label = printable(where["cls"].name)
        skipped.append({"path": "/".join(p for p in (where["split"], label, printable(rel)) if p),
                        "class": label, "split": where["split"] or None, "reason": reason})

    def link_or_copy(src, dst):
        target = os.path.realpath(src)   # os.link would link a symbolic link itself on Linux
        if not os.path.isfile(target):
            refuse(src, f"symbolic link to a missing file ({printable(os.readlink(src))})")
            return
        try:
            os.link(target, dst)
            counter["linked"] += 1
        except OSError:  # another filesystem, or links not allowed: copy instead
            shutil.copy2(target, dst)
            counter["copied"] += 1

    def ignore(folder, names):
        out = set(shutil.ignore_patterns(*IGNORED_DIRS)(folder, names))
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() and path.is_dir() and Path(folder).resolve().is_relative_to(path.resolve()):
                refuse(path, f"symbolic link to a folder that contains it, a loop "
                             f"({printable(os.readlink(path))})")
                out.add(name)
        return out

    for split, classes in plan.items():
        for cls in classes:
            where.update(split=split, cls=cls)
            shutil.copytree(cls, staging / split / cls.name, copy_function=link_or_copy, ignore=ignore)
    log(f"download: {root}: {counter['linked']} files hard-linked, {counter['copied']} copied")
    for entry in skipped:
        log(f"download: skipped {entry['path']}: {entry['reason']}")
    return {"dataset": "folder", "origin": printable(root.resolve()),
            "layout": "Train/Test" if splits else "class folders", "skipped": skipped}


# --- isic: URL or Kaggle API ------------------------------------------------------------------

def _isic(data: dict, staging: Path, log) -> dict:
    work = Path(tempfile.mkdtemp(prefix=".raw.work.", dir=staging.parent))
    try:
        if data.get("url"):
            if not data.get("sha256"):
                raise UserError("data.sha256 is required with data.url")
            archive = work / "archive"
            digest = fetch_url(data["url"], archive, data["sha256"], log)
            source = {"dataset": "isic", "origin": redact_url(data["url"]), "sha256": digest}
        else:
            archive = kaggle_fetch(data["kaggle_dataset"], work, log)
            digest = sha256_file(archive)
            if data.get("sha256"):
                _verify(digest, data["sha256"], f"Kaggle dataset {data['kaggle_dataset']}")
            source = {"dataset": "isic", "origin": f"kaggle:{data['kaggle_dataset']}", "sha256": digest}
        extracted = work / "extracted"
        extracted.mkdir()
        log(f"download: extracting {archive.name}")
        safe_extract.extract(archive, extracted)
        archive.unlink()
        root = find_split_root(extracted)
        for name, folder in split_dirs(root).items():
            if not class_dirs(folder):
                raise UserError(f"the archive's {folder.relative_to(extracted).as_posix()}/ has no "
                                f"class folders with images")
            os.replace(folder, staging / name)
        source["archive_root"] = root.relative_to(extracted).as_posix()
        return source
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_split_root(top: Path) -> Path:
    """The shallowest folder under ``top`` holding both Train/ and Test/ (the Kaggle zip nests it)."""
    best: list[Path] = []
    for folder, dirs, _files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in IGNORED_DIRS)
        if {n.lower() for n in SPLIT_NAMES} <= {d.lower() for d in dirs}:
            best.append(Path(folder))
            dirs[:] = []  # do not look for Train/Test inside Train/Test
    if not best:
        entries = ", ".join(sorted(p.name for p in top.iterdir())[:5]) or "nothing"
        raise UserError(f"the archive has no folder holding both Train/ and Test/ (top level: {entries})")
    depth = min(len(p.parts) for p in best)
    shallowest = [p for p in best if len(p.parts) == depth]
    if len(shallowest) > 1:
        names = ", ".join(p.relative_to(top).as_posix() for p in shallowest)
        raise UserError(f"the archive has several Train/Test folders ({names}); cannot tell which to use")
    return shallowest[0]


def redact_url(url: str) -> str:
    """The URL without user:password@ and without a query string (signed URLs carry tokens there)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "..." if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verify(actual: str, expected: str, what: str) -> None:
    if actual.lower() != expected.lower():
        raise UserError(f"checksum mismatch for {what}: expected sha256 {expected.lower()}, got {actual} "
                        f"(corrupted or changed file; {RAW_DIR} left as it was)")


@contextlib.contextmanager
def _byte_progress(total: int, description: str, log):
    """Yield advance(nbytes): a rich bar on a terminal, a line per quarter (or 100 MB) in logs."""
    if progress.is_interactive():
        from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                                   TransferSpeedColumn)
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task(description, total=total or None)
            yield lambda n: bar.advance(task, n)
        return
    done, logged = 0, 0
    step = total / 4 if total else 100e6   # quarters of a known size, else every 100 MB

    def advance(n: int) -> None:
        nonlocal done, logged
        done += n
        if done - logged >= step or (total and done >= total > logged):
            logged = done
            share = f" ({100 * done / total:.0f} %)" if total else ""
            log(f"{description}: {done / 1e6:.1f} MB{share}")

    yield advance


def fetch_url(url: str, target: Path, sha256: str, log) -> str:
    """Stream ``url`` into ``target``, verify its sha256 and return it; UserError on any failure."""
    import requests

    shown = redact_url(url)
    log(f"download: fetching {shown}")
    hasher = hashlib.sha256()
    try:
        with contextlib.ExitStack() as stack:
            if url.startswith("file://"):
                path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
                try:
                    stream = stack.enter_context(open(path, "rb"))
                except OSError as exc:
                    raise UserError(f"cannot read {shown}: {exc.strerror}") from None
                total = os.fstat(stream.fileno()).st_size
                chunks = iter(lambda: stream.read(CHUNK), b"")
            else:
                response = stack.enter_context(requests.get(url, stream=True, timeout=(15, 60)))
                response.raise_for_status()
                total = int(response.headers.get("Content-Length") or 0)
                chunks = response.iter_content(CHUNK)
            received = 0
            with open(target, "wb") as out, _byte_progress(total, "download", log) as advance:
                for chunk in chunks:
                    out.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    advance(len(chunk))
    except requests.HTTPError as exc:
        raise UserError(f"download of {shown} failed: HTTP {exc.response.status_code} "
                        f"{exc.response.reason}") from None
    except requests.RequestException as exc:
        raise UserError(f"download of {shown} failed or was interrupted ({type(exc).__name__}); "
                        f"{RAW_DIR} left as it was") from None
    except OSError as exc:  # after RequestException, which is an OSError too: disk full, ...
        raise UserError(f"download of {shown} failed: cannot write {target.parent}: "
                        f"{exc.strerror or exc}; {RAW_DIR} left as it was") from None
    if total and received != total:
        raise UserError(f"download of {shown} was cut short: {received} of {total} bytes; "
                        f"{RAW_DIR} left as it was")
    digest = hasher.hexdigest()
    _verify(digest, sha256, shown)
    log(f"download: {received / 1e6:.1f} MB, sha256 verified")
    return digest


# Kaggle: credentials are checked here first, because `import kaggle` authenticates at import
# time and prints help (or exits) when there are none. Secret values are never logged.

def _kaggle_config_dir() -> Path:
    """Where the kaggle package looks for kaggle.json (its own rule, kaggle 2.x)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"])
    home = Path(os.path.expanduser("~"))
    if (home / ".kaggle").exists():
        return home / ".kaggle"
    return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def missing_credentials_message() -> str:
    config = _kaggle_config_dir() / "kaggle.json"
    return (f"no Kaggle credentials: save your API token (kaggle.com > Settings > API) as {config} "
            f"(usually ~/.kaggle/kaggle.json, chmod 600) or set KAGGLE_USERNAME and KAGGLE_KEY "
            f"(or KAGGLE_API_TOKEN); or set data.url and data.sha256 to download the archive directly")


def kaggle_credentials() -> list[str]:
    """The secret values to keep out of messages; UserError when no credential is configured."""
    config = _kaggle_config_dir() / "kaggle.json"
    values: dict = {}
    if config.is_file():
        try:
            values = json.loads(config.read_text(encoding="utf-8")) or {}
        except (ValueError, OSError):
            raise UserError(f"{config} is not readable JSON: expected "
                            '{"username": "...", "key": "..."}') from None
    username = os.environ.get("KAGGLE_USERNAME") or values.get("username")
    key = os.environ.get("KAGGLE_KEY") or values.get("key")
    token = os.environ.get("KAGGLE_API_TOKEN")
    home = Path(os.path.expanduser("~")) / ".kaggle"
    token_files = [f for f in (home / "access_token", home / "access_token.txt") if f.is_file()]
    if (username and key) or token or token_files or (home / "credentials.json").is_file():
        secrets = [key, token] + [_read_secret(f) for f in token_files]
        return [s for s in secrets if s and len(s) >= 8]   # never "redact" a trivial string
    raise UserError(missing_credentials_message())


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def kaggle_api():
    """An authenticated kaggle.KaggleApi (the import itself prints and authenticates: muted)."""
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            from kaggle.api.kaggle_api_extended import KaggleApi
        except ImportError:
            raise UserError("the kaggle package is not installed (pip install kaggle); "
                            "or set data.url and data.sha256") from None
        api = KaggleApi()
        try:
            api.authenticate()
        except SystemExit:
            raise UserError(missing_credentials_message()) from None
        except Exception as exc:  # checking a token calls kaggle.com: offline, refused, ...
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise UserError(f"Kaggle authentication failed ({type(exc).__name__}"
                            f"{f', HTTP {status}' if status else ''}): check your network and your "
                            "Kaggle token; or set data.url and data.sha256") from None
    return api


def kaggle_fetch(dataset: str, work: Path, log) -> Path:
    """Download the dataset's zip through the official Kaggle API into ``work``."""
    secrets = kaggle_credentials()
    api = kaggle_api()
    log(f"download: Kaggle dataset {dataset} through the Kaggle API")
    try:
        api.dataset_download_files(dataset, path=str(work), force=True,
                                   quiet=not progress.is_interactive(), unzip=False)
    except SystemExit:
        raise UserError(f"the Kaggle API refused the download of {dataset}") from None
    except Exception as exc:  # the API raises requests errors, ValueError, RuntimeError, ...
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise UserError(f"Kaggle refused the credentials (HTTP {status}) for {dataset}: "
                            f"check {_kaggle_config_dir() / 'kaggle.json'} or KAGGLE_USERNAME/KAGGLE_KEY, "
                            f"and accept the dataset's terms on kaggle.com") from None
        if status == 404:
            raise UserError(f"Kaggle dataset not found: {dataset} (data.kaggle_dataset)") from None
        detail = _redact(str(exc), secrets).splitlines()[0][:200] if str(exc) else ""
        raise UserError(f"Kaggle download of {dataset} failed: {type(exc).__name__} {detail}".rstrip()) from None
    zips = sorted(work.glob("*.zip"))
    if len(zips) != 1:
        raise UserError(f"the Kaggle API left {len(zips)} zip files for {dataset}, expected one")
    return zips[0]
