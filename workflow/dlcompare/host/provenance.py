"""What a run was trained on, recorded in its run.json as ``trained_on`` and compared by the
report, so a memoir never mixes runs of another dataset or of other parameters.

``trained_on`` = {"manifest_sha256": sha256 of data/split/manifest.csv, "classes": classes.json,
"params_fingerprint": sha256 of the canonical JSON of the params that determine the run: the
``data`` section, the ``train`` section without the matrix keys (libraries, variants, archs,
seeds: they name the run, they do not change it) and the entry's resolved section}. One function computes it
for `dlcompare train` and for `dlcompare report`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dlcompare.glossary import MANIFEST, RUN_INFO
from dlcompare.data import splitcache

KEY = "trained_on"
MATRIX_KEYS = ("libraries", "variants", "archs", "seeds")


def params_fingerprint(params: dict, library_section: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the params that shape a run."""
    train = {k: v for k, v in (params.get("train") or {}).items() if k not in MATRIX_KEYS}
    chosen = {"data": params.get("data") or {}, "train": train, "library": library_section or {}}
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trained_on(params: dict, library_section: dict, split_dir: str | Path) -> dict:
    """The ``trained_on`` block for a run of ``params`` on the split in ``split_dir`` (which must
    exist: UserError otherwise). ``library_section``: the library's params section."""
    split_dir = Path(split_dir)
    digest = hashlib.sha256()
    with open(splitcache.require(split_dir / MANIFEST), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"manifest_sha256": digest.hexdigest(), "classes": splitcache.load_classes(split_dir),
            "params_fingerprint": params_fingerprint(params, library_section)}


def stale_reason(info: dict, current: dict | None) -> str | None:
    """Why a run whose run.json is ``info`` does not belong with ``current`` (None: it does)."""
    recorded = info.get(KEY)
    if current is None:
        return "no current split (data/split) to compare it with"
    if not isinstance(recorded, dict):
        return f"stale: {RUN_INFO} does not say what it was trained on (made before this was recorded)"
    if recorded.get("manifest_sha256") != current["manifest_sha256"]:
        if recorded.get("classes") != current["classes"]:
            return (f"stale: trained on another split with classes "
                    f"{', '.join(map(str, recorded.get('classes') or []))}")
        return "stale: trained on another split (data/split/manifest.csv has changed since)"
    if recorded.get("params_fingerprint") != current["params_fingerprint"]:
        return "stale: trained with other parameters (data, train or its library's section changed since)"
    return None
