"""Read what the pipeline left on disk (data reports, split, run artifacts) for the memoir.

Nothing here raises for a missing or broken run: the memoir must render from partial results
(``snakemake --keep-going``), so every expected run comes back with a status and the reason.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pandas as pd

from dlcompare import glossary as G
from dlcompare.data.splitting import SPLIT_REPORT
from dlcompare.errors import UserError
from dlcompare.host import provenance
from dlcompare.host.plugins import load_registry
from dlcompare.host.entries import library_params, lookup, resolved_params
from dlcompare.report.i18n import N_

# Status codes (compared as they are; the table of runs translates them where shown)
OK, MISSING, FAILED, STALE = N_("ok"), N_("missing"), N_("failed"), N_("stale")


@dataclasses.dataclass
class RunResult:
    entry: str                        # a library's base recipe (its name) or a variant
    arch: str
    seed: int
    status: str                       # ok | missing | failed | stale (another split or params)
    reason: str = ""
    info: dict = dataclasses.field(default_factory=dict)       # run.json
    metrics: dict = dataclasses.field(default_factory=dict)    # metrics.json
    history: pd.DataFrame | None = None                        # history.csv
    library: str = ""                 # the plugin that trained it (= entry for a base recipe)

    def __post_init__(self):
        self.library = self.library or self.entry

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclasses.dataclass
class Inputs:
    params: dict
    classes: list[str]
    cleaning: dict | None             # results/cleaning.json
    split: dict | None                # results/split.json
    split_counts: pd.DataFrame | None  # class x split image counts from the manifest
    runs: list[RunResult]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_run(entry: str, arch: str, seed: int, results: Path,
             current: dict | None = None, library: str = "") -> RunResult:
    """One expected run; ``ok`` needs a readable metrics.json (the trainer's last artifact) and,
    given ``current`` (provenance.trained_on now), a run trained on that split and those params."""
    folder = Path(G.run_dir(str(results), entry, arch, seed))
    run = RunResult(entry, arch, int(seed), MISSING, library=library)
    if not folder.is_dir():
        run.reason = N_("not run (no run directory)")
        return run
    metrics = _read_json(folder / G.METRICS)
    if not metrics or "valid" not in metrics or "test" not in metrics:
        run.status, run.reason = FAILED, f"{G.METRICS} missing or unreadable"
        return run
    run.status, run.metrics, run.info = OK, metrics, _read_json(folder / G.RUN_INFO) or {}
    stale = provenance.stale_reason(run.info, current)
    if stale:
        run.status, run.reason = STALE, stale
        return run
    try:
        history = pd.read_csv(folder / G.HISTORY)
        if set(G.HISTORY_COLUMNS) <= set(history.columns):
            run.history = with_step(history)
    except (OSError, ValueError):
        pass
    if run.history is None:
        run.reason = f"{G.HISTORY} missing or unreadable: no curves"
    return run


def own_losses(run: RunResult) -> list[dict]:
    """Per-epoch losses as the library itself computes them, when its plugin keeps them apart
    from history.csv (whose valid_loss is plain cross-entropy): run.json ``extras.<library>_losses``,
    rows with ``<library>_train_loss``, ``<library>_valid_loss`` and optionally the penalty inside
    them, ``l2_<library>`` (and ``l2_all_kernels``). The Keras plugin writes ``keras_losses``."""
    rows = (run.info.get("extras") or {}).get(f"{run.library}_losses")
    if not isinstance(rows, list):
        return []
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get(f"{run.library}_valid_loss"), (int, float))]


def with_step(history: pd.DataFrame) -> pd.DataFrame:
    """Add ``step``: the epoch counted across both phases (1..n), whether the file numbers epochs
    per phase or globally, so curves have one monotone x axis and "epochs to target" counts all."""
    order = history["phase"].map({p: i for i, p in enumerate(G.PHASES)}).fillna(len(G.PHASES))
    history = history.assign(_order=order).sort_values(["_order"], kind="stable").drop(columns="_order")
    return history.assign(step=range(1, len(history) + 1)).reset_index(drop=True)


def expected_runs(params: dict) -> list[tuple[str, str, int]]:
    """(entry, arch, seed) of every run the profile asks for."""
    train = params["train"]
    return list(itertools.product(G.entries(train), train["archs"], train["seeds"]))


def collect(params: dict, root: str | Path = ".") -> Inputs:
    root = Path(root)
    split_dir = root / G.SPLIT_DIR
    classes = _read_json(split_dir / G.CLASSES)
    counts = None
    manifest = split_dir / G.MANIFEST
    if manifest.is_file():
        frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        counts = pd.crosstab(frame["label"], frame["split"]).reindex(columns=list(G.SPLITS), fill_value=0)
        classes = classes or sorted(frame["label"].unique())
    results = root / G.RESULTS_DIR
    current = {}
    registry = load_registry()
    for entry in G.entries(params["train"]):
        try:
            section = resolved_params(params, entry, registry)
        except UserError:     # its plugin is not installed here: compare the section as given
            section = library_params(params, lookup(params, entry).library)
        try:
            current[entry] = provenance.trained_on(params, section, split_dir)
        except UserError:     # no split: nothing can be matched against it
            current[entry] = None
    runs = [read_run(entry, arch, seed, results, current[entry], lookup(params, entry).library)
            for entry, arch, seed in expected_runs(params)]
    return Inputs(params=params, classes=list(classes or []),
                  cleaning=_read_json(results / G.CLEANING_REPORT),
                  split=_read_json(results / SPLIT_REPORT), split_counts=counts, runs=runs)
