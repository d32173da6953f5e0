"""Decoding image files: the readability check used by `clean` and the decode + resize used by
`split`, so both stages agree on what "a readable image" is.

- Only files with an image extension are candidates (``IMAGE_EXTENSIONS``, any case).
- A file is readable when Pillow decodes it completely (a truncated JPEG fails, since Pillow's
  ``LOAD_TRUNCATED_IMAGES`` is left off) and converts it to RGB.
- Images above ``MAX_PIXELS`` (Pillow's own decompression-bomb threshold, ~89 Mpixel) are refused
  from their header alone, before any pixel is decoded.
- JPEGs are decoded with ``draft``: libjpeg scales by 1/2, 1/4 or 1/8 while decoding, which is
  several times faster for large photographs and still reads every byte (truncation is still caught).
- Any mode becomes RGB: grayscale, palette, CMYK, 16-bit (scaled to 8). Transparent images
  (RGBA, LA, PA, a palette or colour with a transparent entry) are composited onto
  ``data.background`` (white by default): dropping the alpha channel would turn a black glyph on
  transparent black, as in icon sets, into an all-black image.
- ``is_constant`` flags images that decode to one colour (nothing to learn from); clean and split
  report them.
  EXIF orientation is applied. Resizing squashes to a square (the whole lesion stays in view,
  as Keras's ``flow_from_directory(target_size=...)`` did in the thesis), bilinear with antialiasing.
- ``map_chunks`` spreads decoding over worker processes: Pillow holds the GIL while decoding, so
  threads do not help; processes do, once there are enough files and bytes to pay for starting
  them.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif",
                              ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"})
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# Below either threshold, starting worker processes costs more than it saves (measured: digits,
# 1,797 PNGs of 3 MB in all, cleaned and split twice as fast in one process).
PARALLEL_MIN_FILES = 400
PARALLEL_MIN_BYTES = 32 * 2**20
DEFAULT_BACKGROUND = "white"


class Unreadable(Exception):
    """The file is not a usable image; the message is the reason recorded in cleaning.json."""


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def background_rgb(colour: str) -> tuple[int, int, int]:
    """``data.background`` as (r, g, b): a CSS colour name or #rrggbb (Pillow's ImageColor)."""
    try:
        return ImageColor.getrgb(str(colour))[:3]
    except ValueError:
        raise ValueError(f"{colour!r} is not a colour; use a name like white or black, "
                         f"or #rrggbb") from None


def is_constant(pixels: np.ndarray) -> bool:
    """True when every pixel has the same colour."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return bool((flat == flat[0]).all())


def _open_rgb(data: bytes, draft: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    if not data:
        raise Unreadable("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise Unreadable(f"decompression bomb refused: {width}x{height} pixels "
                             f"exceeds the limit of {MAX_PIXELS:,}")
        if im.format == "JPEG":
            im.draft("RGB", draft)
        ImageOps.exif_transpose(im, in_place=True)  # loads the pixels (truncation raises here), no copy
        return _to_rgb(im, background)
    except Unreadable:
        raise
    except Image.DecompressionBombError as exc:
        raise Unreadable(f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise Unreadable("not a recognised image format") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable", with its reason
        raise Unreadable(f"cannot decode: {type(exc).__name__}: {exc}") from None


def _transparent(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in im.info and im.mode in ("P", "L", "RGB"))


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if _transparent(im):
        canvas = Image.new("RGBA", im.size, (*background, 255))
        return Image.alpha_composite(canvas, im.convert("RGBA")).convert("RGB")
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)).convert("RGB")
    if im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        return Image.fromarray(((arr - arr.min()) * (255.0 / span)).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


def check(data: bytes, background: tuple[int, int, int] = (255, 255, 255)) -> bool:
    """Raise ``Unreadable`` with the reason when ``data`` is not a decodable image; return
    whether it decodes to a single colour."""
    im = _open_rgb(data, draft=(1, 1), background=background)
    return all(lo == hi for lo, hi in im.getextrema())


def load_rgb(data: bytes, size: int, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Decode ``data`` into a uint8 (size, size, 3) array (transparency composited on ``background``)."""
    im = _open_rgb(data, draft=(size, size), background=background)
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def default_workers() -> int:
    """Worker processes for decoding: the CPUs this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def map_chunks(fn, jobs: list, workers: int | None = None, nbytes: int | None = None) -> list:
    """``fn(chunk)`` over consecutive chunks of ``jobs``, results concatenated in order; in one
    process when there are few jobs or, given ``nbytes`` (the files' total size), little data.

    ``fn`` takes a list of jobs and returns one result per job; it must be a module-level function
    (it runs in worker processes, started with forkserver/spawn so that threads in the parent,
    e.g. a loaded torch, cannot deadlock a forked child).
    """
    workers = default_workers() if workers is None else workers
    small = len(jobs) < PARALLEL_MIN_FILES or (nbytes is not None and nbytes < PARALLEL_MIN_BYTES)
    if workers <= 1 or small:
        return list(fn(jobs)) if jobs else []
    size = max(16, -(-len(jobs) // (workers * 4)))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    context = multiprocessing.get_context(os.environ.get("DLC_MP", "forkserver"))
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([__name__])  # numpy and Pillow imported once, not per worker
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with,
                             initargs=(os.getpid(),)) as pool:
        return [result for chunk in pool.map(fn, chunks) for result in chunk]


def _die_with(parent: int) -> None:
    """Worker initializer: exit as soon as ``parent`` is gone. A ``kill -9`` of the stage would
    otherwise leave its workers decoding into a temporary folder nobody will ever use."""
    def watch():
        while True:
            time.sleep(0.2)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:   # the pid was reused by another user's process
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def total_size(paths) -> int:
    """Sum of the files' sizes (a cheap proxy for the decoding work)."""
    return sum(os.stat(path).st_size for path in paths)
