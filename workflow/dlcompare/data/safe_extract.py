"""Extract a zip or tar archive without letting it write outside the target ("zip slip").

Every member is checked BEFORE anything is written; a bad one refuses the whole archive with
one UserError. Refused: absolute paths, ``..`` components, links (symbolic or hard) whose target
leaves the destination, device files, FIFOs. Tar members go through Python's own ``data``
extraction filter (PEP 706), zip members through the equivalent checks below (zipfile would
silently rewrite such names instead of refusing them, and stores symlinks as plain files).

Decompression bombs are refused from the sizes the archive declares (zipfile stops each member
at its declared size and fails its CRC when the data holds more; tar sizes are exact): more
than ``MAX_RATIO`` times the archive's own size once extracted (beyond ``RATIO_FLOOR``, so a
small archive of text may compress well), more than ``MAX_MEMBERS`` entries, or more bytes
than the disk has free. Image archives barely compress (JPEG data is already compressed), so
a real release expands by about 1x.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from dlcompare.errors import UserError

MAX_RATIO = 100              # extracted bytes per archive byte
RATIO_FLOOR = 256 * 2**20    # below this many extracted bytes, any ratio is fine
MAX_MEMBERS = 1_000_000      # the ISIC release has 2,357 files


def extract(archive: str | Path, dest: str | Path) -> None:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the existing directory ``dest``."""
    archive, dest = Path(archive), Path(dest)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, dest)
        else:
            raise UserError(f"{archive.name}: not a zip or tar archive")
    except OSError as exc:  # disk full, permissions: the caller removes what was written
        raise UserError(f"{archive.name}: extraction failed: {exc.strerror or exc}") from None


def _refuse(name: str, why: str, outcome: str = "nothing was extracted") -> UserError:
    return UserError(f"unsafe archive refused: member {name!r} {why}; {outcome}")


def _check_size(archive: Path, dest: Path, members: int, total_bytes: int) -> None:
    """Refuse a decompression bomb, or an archive that would fill the disk, before writing."""
    if members > MAX_MEMBERS:
        raise UserError(f"decompression bomb refused: {archive.name} has {members:,} entries "
                        f"(limit {MAX_MEMBERS:,}); nothing was extracted")
    packed = max(archive.stat().st_size, 1)
    if total_bytes > RATIO_FLOOR and total_bytes > MAX_RATIO * packed:
        raise UserError(f"decompression bomb refused: {archive.name} ({packed / 1e6:.1f} MB) would "
                        f"expand to {total_bytes / 1e9:.2f} GB, over {MAX_RATIO}x its size; "
                        "nothing was extracted")
    free = shutil.disk_usage(dest).free
    if total_bytes > free:
        raise UserError(f"archive needs {total_bytes / 1e9:.2f} GB once extracted but only "
                        f"{free / 1e9:.2f} GB are free under {dest}")


def _check_name(name: str) -> None:
    if not name:
        raise _refuse(name, "has an empty name")
    if "\x00" in name:
        raise _refuse(name, "has a NUL byte in its name")
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        raise _refuse(name, "has an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise _refuse(name, "has a '..' component (it would escape the target folder)")


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                _check_name(info.filename)
                kind = stat.S_IFMT(info.external_attr >> 16)   # Unix file type, 0 when not recorded
                if kind == stat.S_IFLNK:
                    raise _refuse(info.filename, "is a symbolic link")
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise _refuse(info.filename, "is a device file or FIFO")
            _check_size(archive, dest, len(members), sum(info.file_size for info in members))
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise UserError(f"{archive.name}: corrupt zip archive ({exc})") from None


def _extract_tar(archive: Path, dest: Path) -> None:
    target = os.path.realpath(dest)
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_name(member.name)  # the data filter would strip a leading "/" silently
                try:
                    tarfile.data_filter(member, target)
                except tarfile.FilterError as exc:
                    raise _refuse(member.name, _describe_filter_error(exc)) from None
            _check_size(archive, dest, len(members), sum(m.size for m in members if m.isfile()))
            try:  # the filter runs again per member as links appear on disk
                tf.extractall(dest, filter="data")
            except tarfile.FilterError as exc:
                raise _refuse(getattr(getattr(exc, "tarinfo", None), "name", "?"),
                              _describe_filter_error(exc), "extraction stopped") from None
    except (tarfile.ReadError, EOFError) as exc:
        raise UserError(f"{archive.name}: corrupt tar archive ({exc})") from None


def _describe_filter_error(exc: tarfile.FilterError) -> str:
    if isinstance(exc, tarfile.AbsolutePathError):
        return "has an absolute path"
    if isinstance(exc, tarfile.OutsideDestinationError):
        return "would be written outside the target folder"
    if isinstance(exc, (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError)):
        return "is a link pointing outside the target folder"
    if isinstance(exc, tarfile.SpecialFileError):
        return "is a device file or FIFO"
    return str(exc)
